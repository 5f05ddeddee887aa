package storage

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alerter/alerter/dispatch"
	"github.com/prometheus/common/model"
)

// BenchmarkNotificationLogSave: many groups recording notifications at
// once, as after a burst of flushes; the group commit shares fsyncs.
func BenchmarkNotificationLogSave(b *testing.B) {
	db, err := Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	p := db.NotificationLog()
	var n atomic.Int64
	now := time.Now()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			e := dispatch.LogEntry{Key: fmt.Sprintf(`{}/{svc="%d"}:{alertname="A"} r/webhook/0`, i%2000),
				Firing: []uint64{uint64(i), uint64(i) + 1, uint64(i) + 2}, SentAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := p.SaveNotificationLog(context.Background(), []dispatch.LogEntry{e}, time.Time{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkNotificationLogSaveUnderHistoryReads: notification log entries
// written one after another while four readers page through a history of
// 50,000 attempts (the UI and /api/v1/notifications under use). It reports
// the writes' p50 and p99 latency: a write that waits behind the reads
// risks its deadline, and a write that misses it is a duplicate after a
// restart.
func BenchmarkNotificationLogSaveUnderHistoryReads(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	h := NewHistory(db, HistoryOptions{QueueSize: 100000})
	now := time.Now()
	for i := range 50000 {
		h.Record(ctx, dispatch.Attempt{At: now.Add(-time.Duration(i) * time.Second), Receiver: fmt.Sprintf("r%d", i%10),
			Integration: "webhook/0", GroupKey: fmt.Sprintf("g%d", i%500), Status: "firing", Attempt: 1,
			Alerts: []model.LabelSet{{"alertname": "A", "instance": model.LabelValue(fmt.Sprint(i))}}})
	}
	if err := h.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Filters the indexes do not serve scan the table.
				if _, err := h.List(ctx, HistoryFilter{Integration: "webhook/0", GroupKey: fmt.Sprintf("g%d", (i*7+r)%500), Limit: 1000}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	p := db.NotificationLog()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		e := dispatch.LogEntry{Key: fmt.Sprintf("k%d", i%2000), Firing: []uint64{uint64(i)}, SentAt: now, ExpiresAt: now.Add(time.Hour)}
		t0 := time.Now()
		if err := p.SaveNotificationLog(ctx, []dispatch.LogEntry{e}, time.Time{}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	close(stop)
	readers.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
