package dispatch

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// Resolution: send_resolved, the log after a silent resolution, resolved
// alerts leaving the group, and the store's GC.
func TestDispatchResolvedSendResolved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A", "instance", "1"), firing(t0, "alertname", "A", "instance", "2"))
		advance(time.Minute)
		require.Len(t, e.rec.all(), 1)

		// One resolves: sent with the next tick, as resolved.
		e.put(resolved(t0, time.Now(), "alertname", "A", "instance", "1"))
		advance(4*time.Minute + 30*time.Second)
		bs := e.rec.all()
		require.Len(t, bs, 2)
		require.Equal(t, t0.Add(5*time.Minute+30*time.Second), bs[1].At)
		require.Equal(t, "A/2", ids(bs[1].Firing))
		require.Equal(t, "A/1", ids(bs[1].Resolved))
		require.Equal(t, ReasonNewResolved, bs[1].Reason)
		// The resolved alert left the group after the successful flush.
		require.Len(t, e.disp.Groups()[0].Alerts, 1)

		// The other one resolves too: "all resolved", then the group is gone.
		e.put(resolved(t0, time.Now(), "alertname", "A", "instance", "2"))
		advance(5 * time.Minute)
		bs = e.rec.all()
		require.Len(t, bs, 3)
		require.Empty(t, bs[2].Firing)
		require.Equal(t, "A/2", ids(bs[2].Resolved))
		require.Equal(t, ReasonAllResolved, bs[2].Reason)
		require.Empty(t, e.disp.Groups())
		advance(time.Hour)
		require.Len(t, e.rec.all(), 3)
	})
}

func TestDispatchResolvedNoSendResolved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour),
			withIntegrations("r", Integration{Kind: "webhook", Notifier: &fakeNotifier{name: "webhook/0", rec: rec}}))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A", "instance", "1"), firing(t0, "alertname", "A", "instance", "2"))
		advance(time.Minute)
		require.Len(t, rec.all(), 1)

		// One resolves: nothing to say without send_resolved.
		e.put(resolved(t0, time.Now(), "alertname", "A", "instance", "1"))
		advance(4*time.Minute + 30*time.Second)
		require.Len(t, rec.all(), 1)

		// Both resolved: no message, but the log records that nothing
		// fires any more ...
		e.put(resolved(t0, time.Now(), "alertname", "A", "instance", "2"))
		advance(5 * time.Minute)
		require.Len(t, rec.all(), 1)
		es := logEntries(e.log)
		require.Len(t, es, 1)
		require.Empty(t, es[0].Firing)
		// A/1 left the group after the (successful, silent) flush before.
		require.Equal(t, []uint64{uint64(lset("alertname", "A", "instance", "2").Fingerprint())}, es[0].Resolved)
		require.Equal(t, t0.Add(10*time.Minute+30*time.Second), es[0].SentAt)
		require.Empty(t, e.disp.Groups())

		// ... so that the alert firing again is notified at once (well
		// within repeat_interval).
		t1 := time.Now()
		e.put(firing(t1, "alertname", "A", "instance", "1"))
		advance(30 * time.Second)
		bs := rec.all()
		require.Len(t, bs, 2)
		require.Equal(t, t1.Add(30*time.Second), bs[1].At)
		require.Equal(t, "A/1", ids(bs[1].Firing))
		require.Empty(t, bs[1].Resolved)
	})
}

func TestDispatchResolvedOnlyNeverNotified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour))
		t0 := time.Now()
		// Fired and resolved before the first flush: the receiver never
		// knew, so nothing is sent, and the group goes away.
		e.put(firing(t0, "alertname", "A"))
		advance(10 * time.Second)
		e.put(resolved(t0, time.Now(), "alertname", "A"))
		advance(time.Minute)
		require.Empty(t, e.rec.all())
		require.Empty(t, e.disp.Groups())
		require.Zero(t, e.log.Len())
	})
}

func TestDispatchResolvedKeptIfChangedDuringFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		calls := 0
		rec := &recorder{}
		n := &fakeNotifier{name: "webhook/0", rec: rec, fn: func(ctx context.Context, b *Batch) (bool, error) {
			calls++
			if calls == 2 { // the resolution
				<-release
			}
			return false, nil
		}}
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour),
			withIntegrations("r", Integration{Kind: "webhook", SendResolved: true, Notifier: n}))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A"))
		advance(time.Minute)
		e.put(resolved(t0, time.Now(), "alertname", "A"))
		advance(4*time.Minute + 30*time.Second)
		// The flush sending the resolution is in progress; the alert fires
		// again meanwhile.
		require.Len(t, rec.all(), 2)
		t1 := time.Now()
		e.put(firing(t1, "alertname", "A"))
		close(release)
		synctest.Wait()
		// The group still holds the new firing alert ...
		groups := e.disp.Groups()
		require.Len(t, groups, 1)
		require.Len(t, groups[0].Alerts, 1)
		require.False(t, groups[0].Alerts[0].ResolvedAt(time.Now()))
		// ... and notifies it at the next tick.
		advance(5 * time.Minute)
		bs := rec.all()
		require.Len(t, bs, 3)
		require.Equal(t, t0.Add(10*time.Minute+30*time.Second), bs[2].At)
		require.Equal(t, "A", ids(bs[2].Firing))
	})
}

func TestDispatchStoreGC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A"), firing(t0, "alertname", "B"))
		advance(time.Minute)
		e.put(resolved(t0, time.Now(), "alertname", "A"))
		require.Equal(t, 2, e.store.Len())
		// A ended now, which is resolved (EndsAt <= now); B fires.
		require.Equal(t, 1, e.store.GC())
		require.Zero(t, e.store.GC())
		require.Equal(t, 1, e.store.Len())
		_, ok := e.store.Get(lset("alertname", "A").Fingerprint())
		require.False(t, ok)
		_, ok = e.store.Get(lset("alertname", "B").Fingerprint())
		require.True(t, ok)
		// The group still sends the resolution.
		advance(5 * time.Minute)
		var res []string
		for _, b := range e.rec.all() {
			res = append(res, b.Resolved...)
		}
		require.Equal(t, []string{"A"}, res)
	})
}

func TestDispatchTimeoutResolves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// An alert without EndsAt resolves resolve_timeout after it was
		// last received.
		e := newEnv(t, simpleRoute(30*time.Second, time.Minute, 4*time.Hour))
		t0 := time.Now()
		e.put(&Alert{Labels: lset("alertname", "A"), StartsAt: t0})
		advance(3 * time.Minute)
		e.put(&Alert{Labels: lset("alertname", "A"), StartsAt: t0}) // re-sent: extended
		advance(7 * time.Minute)
		bs := e.rec.all()
		require.Len(t, bs, 2, "%v", at(t0, bs))
		require.Equal(t, t0.Add(8*time.Minute+30*time.Second), bs[1].At)
		require.Equal(t, "A", ids(bs[1].Resolved))
	})
}
