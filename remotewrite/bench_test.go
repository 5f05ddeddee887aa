package remotewrite

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// benchSamples are n samples of n series named as recording rules name
// them, with six labels each.
func benchSamples(n int) []promql.Sample {
	out := make([]promql.Sample, n)
	for i := range out {
		out[i] = promql.Sample{Metric: labels.FromStrings("__name__", "job:http_requests:rate5m", "job", "api",
			"instance", "host-"+strconv.Itoa(i)+":9100", "namespace", "prod", "pod", "api-"+strconv.Itoa(i%97), "cluster", "eu1"),
			T: int64(i), F: float64(i)}
	}
	return out
}

// BenchmarkEncode: one full request (2,000 samples) to snappy protobuf.
func BenchmarkEncode(b *testing.B) {
	samples := benchSamples(2000)
	batch := make([]entry, len(samples))
	for i, s := range samples {
		batch[i] = entry{s: s, size: sampleSize(s.Metric)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := encode(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(batch)*b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkQueueConcurrentProducers: 8 producers append batches of 100
// samples (a group's evaluation) to a queue of 4 shards sending to a
// local endpoint that takes everything; it ends when all is sent.
func BenchmarkQueueConcurrentProducers(b *testing.B) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	q := New(Options{Name: "bench", URL: srv.URL, Capacity: 100000, BatchSendDeadline: 10 * time.Millisecond})
	samples := benchSamples(100)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = q.Append(context.Background(), samples)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q.Close(ctx)
	b.ReportMetric(float64(len(samples)*b.N)/b.Elapsed().Seconds(), "samples/s")
}
