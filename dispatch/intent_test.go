package dispatch

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

func TestNeedsUpdatePending(t *testing.T) {
	now := time.Now()
	onlyPending := &LogEntry{Key: "k", Pending: []uint64{1}, PendingAt: now.Add(-time.Minute)}
	require.Equal(t, ReasonAllResolved, needsUpdate(onlyPending, nil, []uint64{1}, false, time.Hour, now),
		"an alert that may have been notified as firing gets its resolve")
	require.Equal(t, ReasonFirst, needsUpdate(onlyPending, []uint64{1}, nil, false, time.Hour, now),
		"unconfirmed is not sent: sent again (a possible duplicate, never a lost page)")
	both := &LogEntry{Key: "k", Firing: []uint64{2}, SentAt: now, Pending: []uint64{1, 2}}
	require.Equal(t, ReasonAllResolved, needsUpdate(both, nil, []uint64{1, 2}, false, time.Hour, now))
	require.Equal(t, NoNotification, needsUpdate(both, []uint64{2}, nil, false, time.Hour, now))
}

func TestIntendKeepsConfirmedAndUnites(t *testing.T) {
	ctx := context.Background()
	p := newMemPersister()
	l, err := NewNotificationLog(ctx, p, time.Hour)
	require.NoError(t, err)
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, l.Log(ctx, "k", []uint64{1}, []uint64{3}, now, 0))
	require.NoError(t, l.Intend(ctx, "k", []uint64{1, 2}, now.Add(time.Minute), 0))
	require.NoError(t, l.Intend(ctx, "k", []uint64{4}, now.Add(2*time.Minute), 0))
	got, ok := p.get("k")
	require.True(t, ok, "written through before Intend returns")
	require.Equal(t, LogEntry{Key: "k", Firing: []uint64{1}, Resolved: []uint64{3}, SentAt: now,
		Pending: []uint64{1, 2, 4}, PendingAt: now.Add(2 * time.Minute), ExpiresAt: now.Add(2*time.Minute + time.Hour)}, got)
	// The confirmation clears what was pending.
	require.NoError(t, l.Log(ctx, "k", []uint64{1, 2, 4}, nil, now.Add(3*time.Minute), 0))
	require.Empty(t, l.Get("k").Pending)
}

// TestCrashAfterDeliveryBeforeConfirmationSendsResolve: the receiver takes
// a firing notification and the process dies before the notification log
// entry is written (here: the write fails). After the restart (a new log
// loaded from the same storage, a new store and dispatcher) the alert
// resolves: its resolve is sent. Before the intent was written ahead of
// the send, the log had no entry and the resolve was never sent.
func TestCrashAfterDeliveryBeforeConfirmationSendsResolve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newMemPersister()
		route := &config.Route{
			Receiver: "r", GroupBy: []model.LabelName{"alertname"},
			GroupWait: dur(time.Second), GroupInterval: dur(10 * time.Second), RepeatInterval: dur(time.Hour),
		}
		crash := errors.New("killed")
		var rec recorder
		n := &fakeNotifier{name: "webhook/0", rec: &rec, fn: func(context.Context, *Batch) (bool, error) {
			p.mu.Lock()
			p.err = crash // the confirmation will not be written
			p.mu.Unlock()
			return false, nil
		}}
		l1, err := NewNotificationLog(ctx, p, time.Hour)
		require.NoError(t, err)
		e1 := newEnv(t, route, withLog(l1), withIntegrations("r", Integration{Kind: "webhook", Notifier: n}))
		start := time.Now()
		e1.put(firing(start, "alertname", "A", "instance", "1"))
		advance(2 * time.Second)
		require.Len(t, rec.all(), 1, "the firing notification reached the receiver")
		e1.store.SetDispatcher(nil)
		e1.disp.Stop()

		// The restart.
		p.mu.Lock()
		p.err = nil
		p.mu.Unlock()
		l2, err := NewNotificationLog(ctx, p, time.Hour)
		require.NoError(t, err)
		var rec2 recorder
		e2 := newEnv(t, route, withLog(l2), withIntegrations("r", Integration{Kind: "webhook", SendResolved: true, Notifier: &fakeNotifier{name: "webhook/0", rec: &rec2}}))
		e2.put(resolved(start, time.Now(), "alertname", "A", "instance", "1"))
		advance(2 * time.Second)
		bs := rec2.all()
		require.Len(t, bs, 1, "the resolve is sent")
		require.Equal(t, ReasonAllResolved, bs[0].Reason)
		require.Equal(t, []string{"A/1"}, bs[0].Resolved)
	})
}
