package storage

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alerter/alerter/dispatch"
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
