// Regression tests for deviations from Alertmanager v0.35.0 (and from
// DESIGN.md) found in review and fixed.
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	amalert "github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

// The reason is template data (.NotificationReason) and a field of the
// webhook body ("notification_reason"); Alertmanager's strings are
// notify.NotifyReason.String in notify/notify.go.
func TestBugNotifyReasonStrings(t *testing.T) {
	want := map[NotifyReason]string{
		NoNotification:    "none",
		ReasonFirst:       "first notification",
		ReasonNewFiring:   "new alerts added",
		ReasonNewResolved: "some alerts resolved",
		ReasonAllResolved: "all alerts resolved",
		ReasonRepeat:      "repeat interval elapsed",
	}
	for r, s := range want {
		require.Equal(t, s, r.String(), "reason %d", int(r))
	}
}

// After a notification that resolved everything, new firing alerts are a
// first notification again, as in Alertmanager 0.35's
// DedupStage.needsUpdate.
func TestBugNeedsUpdateFirstAfterResolution(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	prev := &LogEntry{Key: "k", Resolved: []uint64{1, 2}, SentAt: now.Add(-time.Minute)}
	require.Equal(t, ReasonFirst, needsUpdate(prev, []uint64{1}, nil, true, time.Hour, now))
	require.Equal(t, ReasonFirst, needsUpdate(prev, []uint64{3}, []uint64{1}, false, time.Hour, now))
	// With alerts notified as firing before, it is "new alerts".
	prev.Firing = []uint64{2}
	require.Equal(t, ReasonNewFiring, needsUpdate(prev, []uint64{1, 2}, nil, true, time.Hour, now))
}

// A group's alerts are sent in Alertmanager's order (alert.AlertSlice, in
// aggrGroup.flush): by the job label, then instance, then the label set.
func TestBugBatchAlertOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []model.Fingerprint
		n := &fakeNotifier{name: "webhook/0", fn: func(_ context.Context, b *Batch) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range b.Alerts {
				got = append(got, a.Fingerprint())
			}
			return false, nil
		}}
		cfg := simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour)
		cfg.GroupBy = []model.LabelName{}
		e := newEnv(t, cfg, withIntegrations("r", Integration{Kind: "webhook", Notifier: n}))
		t0 := time.Now()
		in := []*Alert{
			firing(t0, "alertname", "A", "job", "x", "instance", "b"),
			firing(t0, "alertname", "B", "job", "x", "instance", "a"),
			firing(t0, "alertname", "A", "job", "w", "instance", "z"),
			firing(t0, "alertname", "C"),
			firing(t0, "alertname", "0", "instance", "y"),
		}
		var am amalert.AlertSlice
		for _, a := range in {
			am = append(am, amalert.New(model.Alert{Labels: a.Labels}, t0, false))
		}
		sort.Stable(am)
		var want []model.Fingerprint
		for _, a := range am {
			want = append(want, a.Fingerprint())
		}
		e.put(in...)
		advance(30 * time.Second)
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, want, got)
	})
}

// A flush whose alerts are all silenced or inhibited stops before the
// receiver stage, as in Alertmanager (without the muted-alerts-in-nflog
// feature flag): no dedup decision, no log entry, so a silence that ends
// within repeat_interval does not cause a second notification.
func TestBugAllMutedLeavesLogUnchanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var muted atomic.Bool
		sil := SilencerFunc(func(model.LabelSet) []string {
			if muted.Load() {
				return []string{"s1"}
			}
			return nil
		})
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour), func(o *Options) { o.Silencer = sil })
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A"))
		advance(time.Minute)
		require.Len(t, e.rec.all(), 1)
		before := logEntries(e.log)

		muted.Store(true) // silenced from 1m to 6m
		advance(5 * time.Minute)
		require.Equal(t, before, logEntries(e.log), "a muted flush does not touch the log")
		muted.Store(false)
		advance(5 * time.Minute)
		require.Len(t, e.rec.all(), 1, "no second notification within repeat_interval")
	})
}

// A notification log entry expires 2*repeat_interval after it was written
// when that is less than the log's retention, as DESIGN.md says and
// Alertmanager does (SetNotifiesStage: expiry = 2*repeat; nflog.Log:
// min(retention, expiry)).
func TestBugNotificationLogExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, time.Hour)) // retention 120h
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A"))
		advance(time.Minute)
		es := logEntries(e.log)
		require.Len(t, es, 1)
		require.Equal(t, es[0].SentAt.Add(2*time.Hour), es[0].ExpiresAt)
	})
}

// NotificationLog.GC deletes expired entries from storage by expiry, not by
// key, so a Log for the same key that lands while GC runs (the group
// notifying again) stays both in memory and in storage: after a restart
// the notification is not sent again.
func TestBugNotificationLogGCRace(t *testing.T) {
	ctx := context.Background()
	p := newMemPersister()
	l, err := NewNotificationLog(ctx, p, time.Hour)
	require.NoError(t, err)
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, l.Log(ctx, "k", []uint64{1}, nil, now, 0))

	later := now.Add(time.Hour)
	p.hook = func(_ []LogEntry, expiredBy time.Time) {
		if !expiredBy.IsZero() { // GC is deleting "k": a notification lands now
			require.NoError(t, l.Log(ctx, "k", []uint64{1, 2}, nil, later, 0))
		}
	}
	_, err = l.GC(ctx, later)
	require.NoError(t, err)
	require.NotNil(t, l.Get("k"), "memory keeps the fresh entry")
	_, ok := p.get("k")
	require.True(t, ok, "storage must keep the fresh entry too")
}

// As Alertmanager loads the inhibitor with every stored alert before the
// dispatcher starts (app/reloader.go: WaitForLoading), Dispatcher.ingest
// observes every alert of a batch as a source before it groups any, and
// starts the new groups' timers once the whole batch is in: an old target
// alert (flushed at once) is inhibited by a source later in the list. This
// test orders the store so that the source comes last (shard 31).
func TestBugInhibitorLoadedBeforeGroupsFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rule := ruleCfg(matchers(t, "severity", "=", "critical"), matchers(t, "severity", "=", "warning"))
		e := newEnv(t, &config.Route{Receiver: "r", GroupBy: []model.LabelName{"instance"}},
			func(o *Options) { o.Inhibitor = NewInhibitor([]*config.InhibitRule{rule}) })
		t0 := time.Now()
		e.store.SetDispatcher(nil).Stop()

		// The alerts were stored before a reload (an hour ago).
		var targets []*Alert
		for i := 0; len(targets) < 500; i++ {
			a := firing(t0.Add(-time.Hour), "alertname", "T", "severity", "warning", "instance", fmt.Sprintf("i%d", i))
			if uint64(a.Labels.Fingerprint())%storeShards != storeShards-1 {
				targets = append(targets, a)
			}
		}
		var source *Alert
		for i := 0; source == nil; i++ {
			a := firing(t0.Add(-time.Hour), "alertname", "S", "severity", "critical", "n", fmt.Sprint(i))
			if uint64(a.Labels.Fingerprint())%storeShards == storeShards-1 {
				source = a
			}
		}
		require.NoError(t, e.store.Put(append(targets, source)))

		// Reload: a new inhibitor and dispatcher, loaded from the store.
		opts := e.opts
		opts.Inhibitor = NewInhibitor([]*config.InhibitRule{rule})
		d2, err := NewDispatcher(opts)
		require.NoError(t, err)
		e.store.SetDispatcher(d2)
		e.disp = d2
		synctest.Wait()
		for _, b := range e.rec.all() {
			require.NotContains(t, b.Firing, "T/"+string(b.GroupLabels["instance"]), "inhibited alert notified")
		}
	})
}

// A group flushes at once only when the alert that creates it started more
// than group_wait ago, as in Alertmanager 0.35 (Dispatcher.groupAlert:
// ag.resetTimer(0) for a new group); an old alert that joins a group in its
// group_wait does not wake it.
func TestBugEarlyFlushOnlyForNewGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A", "instance", "new"))
		advance(5 * time.Second)
		e.put(firing(t0.Add(-time.Hour), "alertname", "A", "instance", "old"))
		advance(25 * time.Second)
		bs := e.rec.all()
		require.Len(t, bs, 1)
		require.Equal(t, t0.Add(30*time.Second), bs[0].At)
		require.Equal(t, "A/new,A/old", ids(bs[0].Firing))
	})
}

// The notification log is written on a context of its own: a delivery that
// succeeds at the flush deadline (or as a reload or shutdown cancels the
// flush) is recorded all the same by a persister that honours its context
// (as storage.DB.Write does), so it is not sent again.
func TestBugLogWrittenAfterDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newMemPersister()
		p.honorCtx = true
		nlog, err := NewNotificationLog(context.Background(), p, 120*time.Hour)
		require.NoError(t, err)
		rec := &recorder{}
		var calls atomic.Int32
		n := &fakeNotifier{name: "webhook/0", rec: rec, fn: func(ctx context.Context, _ *Batch) (bool, error) {
			if calls.Add(1) == 1 {
				<-ctx.Done() // the receiver answers 200 just as the deadline passes
			}
			return false, nil
		}}
		e := newEnv(t, simpleRoute(30*time.Second, time.Minute, 4*time.Hour), withLog(nlog),
			withIntegrations("r", Integration{Kind: "webhook", Notifier: n}))
		e.put(firing(time.Now(), "alertname", "A"))
		advance(time.Minute + 30*time.Second)
		require.Len(t, logEntries(nlog), 1, "delivered at 1m30s, so recorded")
		advance(5 * time.Minute)
		require.Len(t, rec.all(), 1, "not sent twice")
	})
}

// A delivery that a reload or shutdown cancels is logged at debug, not as a
// failure (STYLE.md; Alertmanager's RetryStage does the same).
func TestBugShutdownLogsAtDebug(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &levelRecorder{}
		n := &fakeNotifier{name: "webhook/0", fn: func(ctx context.Context, _ *Batch) (bool, error) {
			<-ctx.Done()
			return true, ctx.Err()
		}}
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour),
			withIntegrations("r", Integration{Kind: "webhook", Notifier: n}),
			func(o *Options) { o.Logger = slog.New(h) })
		e.put(firing(time.Now(), "alertname", "A"))
		advance(40 * time.Second)
		e.store.SetDispatcher(nil)
		e.disp.Stop()
		require.Empty(t, h.above(slog.LevelInfo), "shutdown is not a failure")
	})
}

type levelRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r)
	h.mu.Unlock()
	return nil
}
func (h *levelRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *levelRecorder) WithGroup(string) slog.Handler      { return h }

func (h *levelRecorder) above(l slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if r.Level > l {
			out = append(out, r.Message)
		}
	}
	return out
}
