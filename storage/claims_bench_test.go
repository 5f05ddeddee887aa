package storage

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/internal/testutil"
)

// BenchmarkNotificationClaims: notifications claimed on PostgreSQL as a
// replica sharing the database claims each one: the claim (one
// statement), then the log entry's write, which ends the claim
// (LogEntry.Release). It reports claims (and so notifications) per
// second.
func BenchmarkNotificationClaims(b *testing.B) {
	target := testutil.PostgresSchema(b)
	ctx := context.Background()
	expires := time.Now().Add(time.Hour)
	var run atomic.Int64 // each call of a sub-benchmark claims keys of its own

	// Claimants at once on distinct keys (each cycles through 200 groups
	// of its own), through one process's connection pool.
	b.Run("distinct", func(b *testing.B) {
		db := openBench(b, target)
		prefix := fmt.Sprintf("distinct-%d", run.Add(1))
		var claimants atomic.Int64
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			c := claimants.Add(1)
			for i := 0; pb.Next(); i++ {
				key := fmt.Sprintf(`{}:{svc="%s-%d-%d"} sink/webhook/0`, prefix, c, i%200)
				owner := fmt.Sprintf("r%d/%d", c, i)
				cl, err := db.Claims().ClaimNotification(ctx, key, owner, 10*time.Second, expires)
				if err != nil || !cl.Won {
					b.Errorf("claim %s: won %v, %v", key, cl.Won, err)
					return
				}
				if err := confirm(ctx, db, key, owner, i, expires); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
	})

	// Three replicas (three processes' pools) notify the same groups:
	// each claims every key; the first winner sends and confirms, the
	// others, winning after it, find the notification logged and end
	// their claim. A loser tries again after a millisecond (alerter's
	// replicas wait 50 ms at first). b.N is the notifications.
	b.Run("3-contending", func(b *testing.B) {
		dbs := []*DB{openBench(b, target), openBench(b, target), openBench(b, target)}
		prefix := fmt.Sprintf("contended-%d", run.Add(1))
		var (
			won, lost, sent atomic.Int64
			wg              sync.WaitGroup
		)
		b.ResetTimer()
		for r, db := range dbs {
			wg.Go(func() {
				for i := range b.N {
					key := fmt.Sprintf(`{}:{svc="%s-%d"} sink/webhook/0`, prefix, i)
					owner := fmt.Sprintf("r%d/%d", r, i)
					for {
						cl, err := db.Claims().ClaimNotification(ctx, key, owner, 10*time.Second, expires)
						if err != nil {
							b.Error(err)
							return
						}
						if !cl.Won {
							lost.Add(1)
							time.Sleep(time.Millisecond)
							continue
						}
						won.Add(1)
						if cl.Entry == nil || cl.Entry.SentAt.IsZero() {
							sent.Add(1)
							err = confirm(ctx, db, key, owner, i, expires)
						} else {
							_, err = db.Claims().RenewNotification(ctx, key, owner, 0)
						}
						if err != nil {
							b.Error(err)
							return
						}
						break
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		if sent.Load() != int64(b.N) {
			b.Errorf("%d notifications sent for %d keys", sent.Load(), b.N)
		}
		s := b.Elapsed().Seconds()
		b.ReportMetric(float64(won.Load()+lost.Load())/s, "claims/s")
		b.ReportMetric(float64(lost.Load())/float64(b.N), "lost/op")
		b.ReportMetric(float64(b.N)/s, "notifications/s")
	})
}

func openBench(b *testing.B, target string) *DB {
	db, err := Open(context.Background(), target)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// confirm writes the log entry of a notification sent under owner's
// claim, which ends the claim.
func confirm(ctx context.Context, db *DB, key, owner string, i int, expires time.Time) error {
	now := time.Now()
	return db.NotificationLog().SaveNotificationLog(ctx, []dispatch.LogEntry{{
		Key: key, Firing: []uint64{uint64(i), uint64(i) + 1, uint64(i) + 2}, Resolved: []uint64{},
		SentAt: now, ExpiresAt: expires, Release: owner,
	}}, time.Time{})
}
