package remotewrite

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
)

// receiver is a remote-write endpoint that decodes what it takes and
// answers with answer (nil: 204) for each request.
type receiver struct {
	mu       sync.Mutex
	series   map[string][]prompb.Sample
	requests atomic.Int64
	answer   func(n int64, w http.ResponseWriter) bool // true: answered
}

func newReceiver(t *testing.T, answer func(n int64, w http.ResponseWriter) bool) (*receiver, string) {
	r := &receiver{series: map[string][]prompb.Sample{}, answer: answer}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL + "/api/v1/write"
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := r.requests.Add(1)
	if r.answer != nil && r.answer(n, w) {
		return
	}
	b, err := io.ReadAll(req.Body)
	if err != nil || req.Header.Get("Content-Encoding") != "snappy" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	raw, err := snappy.Decode(nil, b)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, ts := range wr.Timeseries {
		b := labels.NewScratchBuilder(len(ts.Labels))
		for _, l := range ts.Labels {
			b.Add(l.Name, l.Value)
		}
		key := b.Labels().String()
		r.series[key] = append(r.series[key], ts.Samples...)
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) samples(series string) []prompb.Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.series[series]
}

func (r *receiver) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.series {
		n += len(s)
	}
	return n
}

// waitFor polls cond every 10ms for up to 10s.
func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("timed out waiting: " + msg)
}

func sample(name string, t int64, v float64, kv ...string) promql.Sample {
	return promql.Sample{Metric: labels.FromStrings(append([]string{"__name__", name}, kv...)...), T: t, F: v}
}

func testQueue(t *testing.T, url string, o Options) (*Queue, *Metrics) {
	reg := prometheus.NewRegistry()
	o.Name, o.URL, o.Metrics = "prom", url, NewMetrics(reg)
	if o.BatchSendDeadline == 0 {
		o.BatchSendDeadline = 20 * time.Millisecond
	}
	q := New(o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		q.Close(ctx)
	})
	return q, o.Metrics
}

// TestQueueSendsInOrderWithExternalLabels: every sample arrives, each
// series' samples in order, with the external labels the series lacked
// (not over its own), and a stale marker stays a stale marker.
func TestQueueSendsInOrderWithExternalLabels(t *testing.T) {
	r, url := newReceiver(t, nil)
	q, m := testQueue(t, url, Options{Shards: 3, MaxSamplesPerSend: 7,
		ExternalLabels: labels.FromStrings("cluster", "eu1", "job", "ext")})
	stale := math.Float64frombits(value.StaleNaN)
	for ts := int64(1); ts <= 50; ts++ {
		v := float64(ts)
		if ts == 50 {
			v = stale
		}
		require.NoError(t, q.Append(context.Background(), []promql.Sample{
			sample("job:up:sum", ts, v, "job", "api"), sample("ALERTS", ts, 1, "alertname", "A", "alertstate", "firing"),
		}))
	}
	waitFor(t, func() bool { return r.total() == 100 }, "100 samples")
	got := r.samples(`{__name__="job:up:sum", cluster="eu1", job="api"}`)
	require.Len(t, got, 50)
	for i, s := range got {
		require.Equal(t, int64(i+1), s.Timestamp)
	}
	require.True(t, value.IsStaleNaN(got[49].Value), "the stale marker is sent as it is")
	require.Len(t, r.samples(`{__name__="ALERTS", alertname="A", alertstate="firing", cluster="eu1", job="ext"}`), 50)
	require.Equal(t, 100.0, testutil.ToFloat64(m.sent.WithLabelValues("prom")))
	require.Equal(t, 0.05, testutil.ToFloat64(m.highestOut.WithLabelValues("prom")))
	waitFor(t, func() bool { return testutil.ToFloat64(m.pending.WithLabelValues("prom")) == 0 }, "nothing pending")
}

// TestQueueRetriesServerErrors: an endpoint that answers 500 (and 429,
// with retry_on_http_429) for a while gets every sample once it recovers;
// the failures are counted, nothing is dropped.
func TestQueueRetriesServerErrors(t *testing.T) {
	r, url := newReceiver(t, func(n int64, w http.ResponseWriter) bool {
		switch {
		case n <= 3:
			http.Error(w, "overloaded", http.StatusInternalServerError)
		case n == 4:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		default:
			return false
		}
		return true
	})
	q, m := testQueue(t, url, Options{Shards: 1, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, RetryOn429: true})
	require.NoError(t, q.Append(context.Background(), []promql.Sample{sample("a", 1, 1), sample("b", 1, 2)}))
	waitFor(t, func() bool { return r.total() == 2 }, "the samples after the failures")
	require.Equal(t, 8.0, testutil.ToFloat64(m.failed.WithLabelValues("prom")), "4 failed attempts of 2 samples")
	require.Equal(t, 8.0, testutil.ToFloat64(m.retried.WithLabelValues("prom")))
	require.Zero(t, testutil.ToFloat64(m.dropped.WithLabelValues("prom", "refused")))
	require.Equal(t, 2.0, testutil.ToFloat64(m.sent.WithLabelValues("prom")))
}

// TestQueueDropsRefusedSamples: a 400 (or a 429 without
// retry_on_http_429) is not retried: its samples are dropped and counted,
// and the queue goes on with the next.
func TestQueueDropsRefusedSamples(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusTooManyRequests} {
		r, url := newReceiver(t, func(n int64, w http.ResponseWriter) bool {
			if n == 1 {
				http.Error(w, "out of order sample", code)
				return true
			}
			return false
		})
		q, m := testQueue(t, url, Options{Shards: 1})
		require.NoError(t, q.Append(context.Background(), []promql.Sample{sample("a", 1, 1)}))
		waitFor(t, func() bool { return testutil.ToFloat64(m.dropped.WithLabelValues("prom", "refused")) == 1 }, "the refused sample dropped")
		require.NoError(t, q.Append(context.Background(), []promql.Sample{sample("b", 2, 1)}))
		waitFor(t, func() bool { return r.total() == 1 }, "the next sample")
		require.Equal(t, int64(2), r.requests.Load(), "%d: not retried", code)
	}
}

// TestQueueBoundedWhenEndpointHangs: an endpoint that never answers does
// not make Append wait; what exceeds the capacity is dropped and counted;
// Close gives up at its deadline and counts what it drops.
func TestQueueBoundedWhenEndpointHangs(t *testing.T) {
	release := make(chan struct{})
	_, url := newReceiver(t, func(int64, http.ResponseWriter) bool { <-release; return true })
	defer close(release)
	reg := prometheus.NewRegistry()
	q := New(Options{Name: "prom", URL: url, Metrics: NewMetrics(reg), Shards: 2, Capacity: 100, MaxSamplesPerSend: 10,
		BatchSendDeadline: 10 * time.Millisecond, Timeout: time.Hour})
	m := q.m
	var samples []promql.Sample
	for i := range 1000 {
		samples = append(samples, sample("s", int64(i), 1, "i", string(rune('a'+i%26))+string(rune('a'+i/26))))
	}
	err := q.Append(context.Background(), samples)
	require.ErrorContains(t, err, "queue full")
	pending := testutil.ToFloat64(m.pending)
	require.LessOrEqual(t, pending, 220.0, "at most each shard's capacity and the batch it is sending")
	require.Equal(t, 1000-pending, testutil.ToFloat64(m.dropped.WithLabelValues("prom", "queue_full")))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	q.Close(ctx)
	require.Equal(t, pending, testutil.ToFloat64(m.dropped.WithLabelValues("prom", "shutdown")), "everything queued is dropped at the deadline")
	require.Zero(t, testutil.ToFloat64(m.pending))
}

// TestQueueBoundedInBytes: samples with huge labels fill MaxBytes before
// the capacity in samples.
func TestQueueBoundedInBytes(t *testing.T) {
	release := make(chan struct{})
	_, url := newReceiver(t, func(int64, http.ResponseWriter) bool { <-release; return true })
	defer close(release)
	q, m := testQueue(t, url, Options{Shards: 1, MaxBytes: 10 << 10, Timeout: time.Hour})
	big := string(make([]byte, 1<<10))
	var samples []promql.Sample
	for i := range 50 {
		samples = append(samples, sample("s", int64(i), 1, "big", big+string(rune('a'+i))))
	}
	require.Error(t, q.Append(context.Background(), samples))
	require.LessOrEqual(t, testutil.ToFloat64(m.pending.WithLabelValues("prom")), 10.0)
	q.mu.Lock()
	require.LessOrEqual(t, q.bytes, 10<<10)
	q.mu.Unlock()
}

func TestRetryAfter(t *testing.T) {
	require.Equal(t, 3*time.Second, retryAfter("3"))
	require.Equal(t, time.Minute, retryAfter("3600"), "at most a minute")
	require.Zero(t, retryAfter("soon"))
	require.Zero(t, retryAfter(""))
	d := retryAfter(time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat))
	require.Greater(t, d, 5*time.Second)
	require.LessOrEqual(t, d, 10*time.Second)
}

// TestBackoffDefaults: a max_backoff below the default min_backoff is kept,
// the min lowered to it; neither set gives 30ms to 5s.
func TestBackoffDefaults(t *testing.T) {
	for _, tc := range []struct{ min, max, wantMin, wantMax time.Duration }{
		{0, 0, 30 * time.Millisecond, 5 * time.Second},
		{0, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		{time.Second, 0, time.Second, 5 * time.Second},
		{10 * time.Second, 0, 10 * time.Second, 10 * time.Second},
	} {
		o := Options{MinBackoff: tc.min, MaxBackoff: tc.max}
		o.defaults()
		require.Equal(t, tc.wantMin, o.MinBackoff, "%+v", tc)
		require.Equal(t, tc.wantMax, o.MaxBackoff, "%+v", tc)
	}
}
