package storage

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/alerter/alerter/dispatch"
)

// TestMain fails the package if a test leaves a writer loop or a database
// goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var historyT0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// attempt returns an attempt i seconds after historyT0.
func attempt(i int, receiver, integration, group, errMsg string) dispatch.Attempt {
	a := dispatch.Attempt{
		At: historyT0.Add(time.Duration(i) * time.Second), Duration: time.Duration(i) * time.Millisecond,
		Receiver: receiver, Integration: integration, GroupKey: group, Status: "firing",
		Alerts: []model.LabelSet{{"alertname": model.LabelValue(fmt.Sprint("A", i))}}, Attempt: 1,
	}
	if errMsg != "" {
		a.Err, a.Reason = errMsg, dispatch.ReasonServerError
	}
	return a
}

// normalize makes stored attempts comparable with recorded ones.
func normalize(es []HistoryEntry) []dispatch.Attempt {
	out := make([]dispatch.Attempt, len(es))
	for i, e := range es {
		out[i] = e.Attempt
		out[i].At = e.Attempt.At.UTC()
	}
	return out
}

// Attempts survive a close and reopen exactly; more than 100 alerts are
// cut to the first 100 and their total is kept.
func TestHistoryRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		dir := newTarget()
		db := open(t, dir)
		h := NewHistory(db, HistoryOptions{})
		many := make([]model.LabelSet, 150)
		for i := range many {
			many[i] = model.LabelSet{"alertname": "Many", "i": model.LabelValue(fmt.Sprint(i)), "サービス": "☃ \"q\""}
		}
		ok := attempt(1, "team-a", "webhook/0", `{}/{team="a"}:{alertname="A"}`, "")
		failed := attempt(2, "team-a", "webhook/1", `{}:{}`, "unexpected status code 500: boom")
		failed.Attempt, failed.Status, failed.Alerts = 3, "resolved", many
		empty := attempt(3, "b", "webhook/0", "g", "")
		empty.Alerts = nil
		for _, a := range []dispatch.Attempt{ok, failed, empty} {
			h.Record(ctx, a)
		}
		require.NoError(t, h.Flush(ctx))
		require.NoError(t, db.Close())

		db = open(t, dir)
		defer db.Close()
		got, err := NewHistory(db, HistoryOptions{}).List(ctx, HistoryFilter{})
		require.NoError(t, err)
		require.Len(t, got, 3)
		require.Equal(t, []int{0, 150, 1}, []int{got[0].AlertsTotal, got[1].AlertsTotal, got[2].AlertsTotal})
		require.Greater(t, got[1].ID, got[2].ID)
		failed.Alerts = many[:historyMaxAlerts]
		empty.Alerts = []model.LabelSet{}
		require.Equal(t, []dispatch.Attempt{empty, failed, ok}, normalize(got))
	})
}

func TestHistoryFilters(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		db := open(t, newTarget())
		defer db.Close()
		h := NewHistory(db, HistoryOptions{})
		in := []dispatch.Attempt{
			attempt(1, "a", "webhook/0", "g1", ""),
			attempt(2, "a", "webhook/1", "g1", "boom"),
			attempt(3, "b", "webhook/0", "g2", ""),
			attempt(4, "a", "webhook/0", "g2", "bang"),
			attempt(4, "b", "webhook/0", "g1", ""), // same time as the one before: newer by id
		}
		for _, a := range in {
			h.Record(ctx, a)
		}
		require.NoError(t, h.Flush(ctx))
		for _, c := range []struct {
			f    HistoryFilter
			want []int // indexes into in, newest first
		}{
			{HistoryFilter{}, []int{4, 3, 2, 1, 0}},
			{HistoryFilter{Receiver: "a"}, []int{3, 1, 0}},
			{HistoryFilter{GroupKey: "g1"}, []int{4, 1, 0}},
			{HistoryFilter{Integration: "webhook/1"}, []int{1}},
			{HistoryFilter{Status: "success"}, []int{4, 2, 0}},
			{HistoryFilter{Status: "failure"}, []int{3, 1}},
			{HistoryFilter{Receiver: "a", Status: "failure", GroupKey: "g2"}, []int{3}},
			{HistoryFilter{Before: historyT0.Add(3 * time.Second)}, []int{1, 0}},
			{HistoryFilter{Limit: 2}, []int{4, 3}},
			{HistoryFilter{Receiver: "nobody"}, nil},
		} {
			got, err := h.List(ctx, c.f)
			require.NoError(t, err, "%+v", c.f)
			var want []dispatch.Attempt
			for _, i := range c.want {
				want = append(want, in[i])
			}
			if want == nil {
				require.Empty(t, got, "%+v", c.f)
				continue
			}
			require.Equal(t, want, normalize(got), "%+v", c.f)
		}
		_, err := h.List(ctx, HistoryFilter{Status: "ok"})
		require.ErrorContains(t, err, `invalid status "ok"`)
		_, err = h.List(ctx, HistoryFilter{Limit: -1})
		require.ErrorContains(t, err, "invalid limit -1")
	})
}

// The limit defaults to 100 and is capped at 1000.
func TestHistoryLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		db := open(t, newTarget())
		defer db.Close()
		h := NewHistory(db, HistoryOptions{QueueSize: 2000})
		for i := range 1500 {
			h.Record(ctx, attempt(i, "r", "webhook/0", "g", ""))
		}
		require.NoError(t, h.Flush(ctx))
		for limit, want := range map[int]int{0: 100, 1: 1, 1000: 1000, 5000: 1000} {
			got, err := h.List(ctx, HistoryFilter{Limit: limit})
			require.NoError(t, err)
			require.Len(t, got, want, "limit %d", limit)
			require.Equal(t, historyT0.Add(1499*time.Second), got[0].Attempt.At.UTC(), "newest first")
		}
	})
}

func TestHistoryRetention(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		db := open(t, newTarget())
		defer db.Close()
		h := NewHistory(db, HistoryOptions{Retention: time.Hour})
		for i := range 10 {
			h.Record(ctx, attempt(i*600, "r", "webhook/0", "g", "")) // every 10 minutes
		}
		require.NoError(t, h.Flush(ctx))
		// An hour after the attempt at 50 minutes: those before it go.
		n, err := h.deleteExpired(ctx, historyT0.Add(110*time.Minute))
		require.NoError(t, err)
		require.Equal(t, int64(5), n)
		got, err := h.List(ctx, HistoryFilter{})
		require.NoError(t, err)
		require.Len(t, got, 5)
		require.Equal(t, historyT0.Add(50*time.Minute), got[4].Attempt.At.UTC())
	})
}

// A full queue drops what does not fit and counts it; Record never waits.
func TestHistoryFullQueueDrops(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		db := open(t, newTarget())
		defer db.Close()
		reg := prometheus.NewRegistry()
		h := NewHistory(db, HistoryOptions{QueueSize: 3, Registerer: reg})
		for i := range 5 {
			h.Record(ctx, attempt(i, "r", "webhook/0", "g", ""))
		}
		require.Equal(t, 2.0, promtest.ToFloat64(h.dropped.WithLabelValues("queue_full")))
		require.NoError(t, h.Flush(ctx))
		got, err := h.List(ctx, HistoryFilter{})
		require.NoError(t, err)
		require.Len(t, got, 3)
		require.Equal(t, historyT0.Add(2*time.Second), got[0].Attempt.At.UTC(), "the first ones are kept")
		// The queue has room again.
		h.Record(ctx, attempt(9, "r", "webhook/0", "g", ""))
		require.Equal(t, 2.0, promtest.ToFloat64(h.dropped.WithLabelValues("queue_full")))

		// A failed write drops its attempts and counts them too.
		require.NoError(t, db.Close())
		require.Error(t, h.Flush(ctx))
		require.Equal(t, 1.0, promtest.ToFloat64(h.dropped.WithLabelValues("write_error")))
		n, err := promtest.GatherAndCount(reg, "alerter_notification_history_dropped_total")
		require.NoError(t, err)
		require.Equal(t, 2, n)
	})
}

// Run writes what is recorded while it runs and, when its context ends,
// what is still queued.
func TestHistoryRunFlushesOnShutdown(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		db := open(t, newTarget())
		defer db.Close()
		h := NewHistory(db, HistoryOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.Run(ctx)
		}()
		for i := range 500 {
			h.Record(ctx, attempt(i, "r", "webhook/0", "g", ""))
		}
		cancel()
		<-done
		got, err := h.List(context.Background(), HistoryFilter{Limit: 1000})
		require.NoError(t, err)
		require.Len(t, got, 500)
	})
}

// Run deletes attempts past the retention every 15 minutes, on a fake
// clock.
func TestHistoryRunDeletesExpired(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		synctest.Test(t, func(t *testing.T) {
			db := open(t, newTarget())
			defer db.Close()
			h := NewHistory(db, HistoryOptions{Retention: time.Hour})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				h.Run(ctx)
			}()
			now := time.Now()
			old := attempt(0, "r", "webhook/0", "g", "")
			old.At = now.Add(-50 * time.Minute) // expires in 10 minutes
			recent := attempt(0, "r", "webhook/0", "g", "")
			recent.At = now
			h.Record(ctx, old)
			h.Record(ctx, recent)
			synctest.Wait()
			got, err := h.List(ctx, HistoryFilter{})
			require.NoError(t, err)
			require.Len(t, got, 2, "written without waiting for anything")

			time.Sleep(DefaultHistoryGCInterval)
			synctest.Wait()
			got, err = h.List(ctx, HistoryFilter{})
			require.NoError(t, err)
			require.Len(t, got, 1)
			require.True(t, recent.At.Equal(got[0].Attempt.At))
			cancel()
			<-done
		})
	})
}

// Summary tells each receiver's last success, last failure and why, and
// its attempts and failures since a time.
func TestHistorySummary(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		db := open(t, newTarget())
		defer db.Close()
		h := NewHistory(db, HistoryOptions{})
		h.Record(ctx, attempt(0, "pager", "webhook/0", "g", ""))
		h.Record(ctx, attempt(100, "pager", "webhook/0", "g", "502 first"))
		h.Record(ctx, attempt(200, "pager", "webhook/0", "g", ""))
		h.Record(ctx, attempt(300, "pager", "webhook/0", "g", "502 last"))
		h.Record(ctx, attempt(50, "mail", "email/0", "g", ""))
		require.NoError(t, h.Flush(ctx))
		sums, err := h.Summary(ctx, []string{"pager", "mail", "idle"}, historyT0.Add(150*time.Second))
		require.NoError(t, err)
		require.Len(t, sums, 3)
		p := sums[0]
		require.Equal(t, "pager", p.Receiver)
		require.Equal(t, historyT0.Add(200*time.Second), p.LastSuccess.UTC())
		require.Equal(t, historyT0.Add(300*time.Second), p.LastFailure.UTC())
		require.Equal(t, "502 last", p.LastError)
		require.Equal(t, dispatch.ReasonServerError, p.LastReason)
		require.Equal(t, 2, p.Attempts, "since the cut")
		require.Equal(t, 1, p.Failures)
		require.True(t, sums[1].LastFailure.IsZero())
		require.Zero(t, sums[1].Attempts, "mail's attempt is before the cut")
		require.Equal(t, ReceiverSummary{Receiver: "idle"}, sums[2])
	})
}
