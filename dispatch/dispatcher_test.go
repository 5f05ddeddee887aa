package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/alerter/alerter/config"
)

// simpleRoute is a root route with receiver "r", group_by alertname and
// the given timers.
func simpleRoute(gw, gi, ri time.Duration) *config.Route {
	return &config.Route{
		Receiver: "r", GroupBy: []model.LabelName{"alertname"},
		GroupWait: dur(gw), GroupInterval: dur(gi), RepeatInterval: dur(ri),
	}
}

func TestDispatchGroupWaitThenGroupInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A", "instance", "1"))

		advance(30*time.Second - time.Millisecond)
		require.Empty(t, e.rec.all(), "nothing before group_wait")
		advance(time.Millisecond)
		bs := e.rec.all()
		require.Len(t, bs, 1)
		require.Equal(t, t0.Add(30*time.Second), bs[0].At)
		require.Equal(t, "A/1", ids(bs[0].Firing))
		require.Equal(t, lset("alertname", "A"), bs[0].GroupLabels)
		require.Equal(t, "r", bs[0].Receiver)
		require.Equal(t, `{}:{alertname="A"}`, bs[0].GroupKey)

		// A new alert in the group waits for the next group_interval tick,
		// counted from the first flush.
		advance(30 * time.Second)
		e.put(firing(time.Now(), "alertname", "A", "instance", "2"))
		advance(4*time.Minute + 30*time.Second - time.Millisecond)
		require.Len(t, e.rec.all(), 1)
		advance(time.Millisecond)
		bs = e.rec.all()
		require.Len(t, bs, 2)
		require.Equal(t, t0.Add(5*time.Minute+30*time.Second), bs[1].At)
		require.Equal(t, "A/1,A/2", ids(bs[1].Firing))

		// Nothing new: nothing sent at the following ticks.
		advance(30 * time.Minute)
		require.Len(t, e.rec.all(), 2)
	})
}

func TestDispatchImmediateFlushForOldAlert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour))
		t0 := time.Now()
		// Started longer than group_wait ago: flushed at once.
		e.put(firing(t0.Add(-time.Minute), "alertname", "Old"))
		// Started less than group_wait ago: waits for group_wait.
		e.put(firing(t0.Add(-10*time.Second), "alertname", "Young"))
		synctest.Wait()
		bs := e.rec.all()
		require.Len(t, bs, 1)
		require.Equal(t, t0, bs[0].At)
		require.Equal(t, "Old", ids(bs[0].Firing))

		advance(30 * time.Second)
		bs = e.rec.all()
		require.Len(t, bs, 2)
		require.Equal(t, t0.Add(30*time.Second), bs[1].At)
		require.Equal(t, "Young", ids(bs[1].Firing))

		// The old alert's group continues on group_interval from its
		// immediate flush.
		e.put(firing(time.Now(), "alertname", "Old", "instance", "2"))
		advance(5*time.Minute - 30*time.Second)
		bs = e.rec.all()
		require.Len(t, bs, 3, "%v", at(t0, bs))
		require.Equal(t, t0.Add(5*time.Minute), bs[2].At)
		// Alertmanager's order: alerts with an instance label first.
		require.Equal(t, "Old/2,Old", ids(bs[2].Firing))
	})
}

func TestDispatchContinueTwoReceivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &config.Route{
			Receiver: "default", GroupBy: []model.LabelName{"alertname"},
			Routes: []*config.Route{
				{Matchers: matchers(t, "team", "=", "a"), Receiver: "team-a", Continue: true},
				{Matchers: matchers(t, "severity", "=", "critical"), Receiver: "pager", GroupWait: dur(10 * time.Second)},
				{Matchers: matchers(t, "team", "=", "a"), Receiver: "never"},
			},
		}
		e := newEnv(t, cfg)
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A", "team", "a", "severity", "critical"))
		require.Equal(t, []string{"team-a", "pager"}, e.disp.Receivers(lset("alertname", "A", "team", "a", "severity", "critical")))
		advance(30 * time.Second)
		pager, teamA := e.rec.to("pager"), e.rec.to("team-a")
		require.Len(t, pager, 1)
		require.Len(t, teamA, 1)
		require.Equal(t, t0.Add(10*time.Second), pager[0].At)
		require.Equal(t, t0.Add(30*time.Second), teamA[0].At)
		require.NotEqual(t, pager[0].GroupKey, teamA[0].GroupKey)
		require.Empty(t, e.rec.to("never"))
		require.Empty(t, e.rec.to("default"))
		// One log entry per route.
		require.Len(t, logEntries(e.log), 2)
	})
}

func TestDispatchGroupBySplitsGroups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour)
		cfg.GroupBy = []model.LabelName{"alertname", "cluster"}
		e := newEnv(t, cfg)
		t0 := time.Now()
		e.put(
			firing(t0, "alertname", "A", "cluster", "c1", "instance", "1"),
			firing(t0, "alertname", "A", "cluster", "c1", "instance", "2"),
			firing(t0, "alertname", "A", "cluster", "c2", "instance", "1"),
			firing(t0, "alertname", "B", "instance", "1"), // no cluster label
		)
		groups := e.disp.Groups()
		require.Len(t, groups, 3)
		advance(30 * time.Second)
		got := map[string]string{}
		for _, b := range e.rec.all() {
			require.Equal(t, t0.Add(30*time.Second), b.At)
			got[b.GroupLabels.String()] = ids(b.Firing)
		}
		require.Equal(t, map[string]string{
			`{alertname="A", cluster="c1"}`: "A/1,A/2",
			`{alertname="A", cluster="c2"}`: "A/1",
			`{alertname="B"}`:               "B/1",
		}, got)
	})
}

func TestDispatchGroupByAllAndNone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &config.Route{
			Receiver: "r", GroupBy: []model.LabelName{"alertname"},
			Routes: []*config.Route{
				{Matchers: matchers(t, "all", "=", "1"), Receiver: "all", GroupByAll: true},
				{Matchers: matchers(t, "none", "=", "1"), Receiver: "none", GroupBy: []model.LabelName{}},
			},
		}
		e := newEnv(t, cfg)
		t0 := time.Now()
		e.put(
			firing(t0, "alertname", "A", "all", "1", "instance", "1"),
			firing(t0, "alertname", "A", "all", "1", "instance", "2"),
			firing(t0, "alertname", "A", "none", "1", "instance", "1"),
			firing(t0, "alertname", "B", "none", "1", "instance", "2"),
		)
		advance(30 * time.Second)
		require.Len(t, e.rec.to("all"), 2, "one group per label set")
		none := e.rec.to("none")
		require.Len(t, none, 1, "one group for everything")
		require.Equal(t, "A/1,B/2", ids(none[0].Firing))
		require.Empty(t, none[0].GroupLabels)
	})
}

func TestDispatchRepeatInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, time.Hour))
		t0 := time.Now()
		e.put(firingUntil(t0, t0.Add(48*time.Hour), "alertname", "A"))
		advance(30 * time.Second)
		require.Len(t, e.rec.all(), 1)
		// Ticks at 30s + k*5m; the one at 1h0m30s is exactly one repeat
		// interval after the last notification, not more: no repeat yet.
		advance(time.Hour)
		require.Len(t, e.rec.all(), 1)
		advance(5 * time.Minute)
		bs := e.rec.all()
		require.Len(t, bs, 2)
		require.Equal(t, t0.Add(time.Hour+5*time.Minute+30*time.Second), bs[1].At)
		require.Equal(t, ReasonRepeat, bs[1].Reason)
		require.Equal(t, "A", ids(bs[1].Firing))
		// And again one repeat interval (rounded up to a tick) later.
		advance(time.Hour + 5*time.Minute)
		bs = e.rec.all()
		require.Len(t, bs, 3, "%v", at(t0, bs))
		require.Equal(t, t0.Add(2*time.Hour+10*time.Minute+30*time.Second), bs[2].At)
	})
}

func TestDispatchSilenced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var silenced atomic.Int64
		sil := SilencerFunc(func(ls model.LabelSet) []string {
			if ls["silenced"] == "yes" {
				silenced.Add(1)
				return []string{"silence-1"}
			}
			return nil
		})
		cfg := simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour)
		e := newEnv(t, cfg, func(o *Options) { o.Silencer = sil })
		t0 := time.Now()
		e.put(
			firing(t0, "alertname", "Mixed", "instance", "1"),
			firing(t0, "alertname", "Mixed", "instance", "2", "silenced", "yes"),
			firing(t0, "alertname", "Quiet", "instance", "1", "silenced", "yes"),
			firing(t0, "alertname", "Quiet", "instance", "2", "silenced", "yes"),
		)
		advance(30 * time.Second)
		bs := e.rec.all()
		require.Len(t, bs, 1, "a group with only silenced alerts sends nothing")
		require.Equal(t, lset("alertname", "Mixed"), bs[0].GroupLabels)
		require.Equal(t, "Mixed/1", ids(bs[0].Firing))
		require.NotZero(t, silenced.Load())
		// The silenced group left no log entry.
		es := logEntries(e.log)
		require.Len(t, es, 1)
		require.Len(t, es[0].Firing, 1)
		advance(time.Hour)
		require.Len(t, e.rec.all(), 1)
	})
}

func TestDispatchInhibited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ih := NewInhibitor([]*config.InhibitRule{ruleCfg(
			matchers(t, "severity", "=", "critical"), matchers(t, "severity", "=", "warning"), "cluster")})
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour), func(o *Options) { o.Inhibitor = ih })
		t0 := time.Now()
		e.put(
			firing(t0, "alertname", "Down", "severity", "critical", "cluster", "c1"),
			firing(t0, "alertname", "Slow", "severity", "warning", "cluster", "c1"),
			firing(t0, "alertname", "Slow", "severity", "warning", "cluster", "c2"),
		)
		_, inhibited := e.disp.Inhibited(lset("alertname", "Slow", "severity", "warning", "cluster", "c1"))
		require.True(t, inhibited)
		advance(30 * time.Second)
		got := map[string]string{}
		for _, b := range e.rec.all() {
			got[string(b.GroupLabels["alertname"])] = ids(b.Firing)
		}
		require.Equal(t, map[string]string{"Down": "Down", "Slow": "Slow"}, got)
		slow := e.rec.all()
		require.Len(t, slow, 2)

		// The source resolves: the inhibited alert is notified at the
		// next tick of its group.
		advance(time.Minute)
		e.put(resolved(t0, time.Now(), "alertname", "Down", "severity", "critical", "cluster", "c1"))
		advance(4 * time.Minute)
		var slowBatches []sentBatch
		for _, b := range e.rec.all() {
			if b.GroupLabels["alertname"] == "Slow" {
				slowBatches = append(slowBatches, b)
			}
		}
		require.Len(t, slowBatches, 2)
		require.Equal(t, t0.Add(5*time.Minute+30*time.Second), slowBatches[1].At)
		require.Len(t, slowBatches[1].Firing, 2)
	})
}

func TestDispatchRestartKeepsNotificationLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newMemPersister()
		log1, err := NewNotificationLog(context.Background(), p, 120*time.Hour)
		require.NoError(t, err)
		cfg := simpleRoute(30*time.Second, 5*time.Minute, time.Hour)
		e1 := newEnv(t, cfg, withLog(log1))
		t0 := time.Now()
		a := func() *Alert { return firingUntil(t0, t0.Add(48*time.Hour), "alertname", "A") }
		e1.put(a())
		advance(time.Minute)
		require.Len(t, e1.rec.all(), 1)
		// Shut down.
		e1.store.SetDispatcher(nil)
		e1.disp.Stop()

		// Start again: a new log loaded from the same storage, a new store,
		// a new routing tree; the sender re-sends the alert.
		log2, err := NewNotificationLog(context.Background(), p, 120*time.Hour)
		require.NoError(t, err)
		e2 := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, time.Hour), withLog(log2))
		t1 := time.Now()
		e2.put(a())
		// The alert is old: the new group flushes at once, and finds the
		// notification in the log.
		advance(50 * time.Minute)
		require.Empty(t, e2.rec.all(), "no duplicate within repeat_interval after a restart")
		advance(20 * time.Minute)
		bs := e2.rec.all()
		require.Len(t, bs, 1)
		require.Equal(t, ReasonRepeat, bs[0].Reason)
		// First tick of the new group after t0+30s+1h.
		require.Equal(t, t1.Add(time.Hour), bs[0].At)
	})
}

func TestDispatchSetDispatcherSwap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A", "instance", "1"), firing(t0, "alertname", "B"))
		advance(2 * time.Minute)
		require.Len(t, e.rec.all(), 2)

		// Reload: a new dispatcher (new tree) with the same log.
		opts := e.opts
		opts.Route = NewRoute(simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour))
		d2, err := NewDispatcher(opts)
		require.NoError(t, err)
		old := e.store.SetDispatcher(d2)
		require.Same(t, e.disp, old)
		old.Stop()
		e.disp = d2
		// Loaded with the stored alerts before SetDispatcher returned.
		require.Len(t, d2.Groups(), 2)
		synctest.Wait()
		require.Len(t, e.rec.all(), 2, "already notified: not sent again")

		// New alerts reach the new dispatcher only.
		e.put(firing(time.Now(), "alertname", "A", "instance", "2"))
		for _, g := range old.Groups() {
			require.Len(t, g.Alerts, 1, "the old dispatcher got an alert after the swap")
		}
		advance(5 * time.Minute)
		bs := e.rec.all()
		require.Len(t, bs, 3, "%v", at(t0, bs))
		require.Equal(t, t0.Add(7*time.Minute), bs[2].At, "the new group ticks from its immediate flush")
		require.Equal(t, "A/1,A/2", ids(bs[2].Firing))
	})
}

func TestDispatcherGroupsAndReceivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, testTree(t))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "X", "owner", "team-B", "env", "prod"), firing(t0, "alertname", "Y"))
		groups := e.disp.Groups()
		require.Len(t, groups, 3)
		var receivers []string
		for i, g := range groups {
			receivers = append(receivers, g.Receiver)
			require.Len(t, g.Alerts, 1)
			require.Equal(t, g.RouteKey+":"+g.Labels.String(), g.Key)
			if i > 0 {
				require.Less(t, groups[i-1].Key, g.Key)
			}
		}
		require.ElementsMatch(t, []string{"default", "team-B-prod", "team-any"}, receivers)
		require.Equal(t, []string{"team-B-prod", "team-any"}, e.disp.Receivers(lset("owner", "team-B", "env", "prod")))
		require.Equal(t, []string{"team-A-prod", "team-A"}, e.disp.Receivers(lset("owner", "team-A", "env", "prod")))
		require.Same(t, e.route, e.disp.Route())
	})
}

func TestNewDispatcherValidates(t *testing.T) {
	l, err := NewNotificationLog(context.Background(), nil, time.Hour)
	require.NoError(t, err)
	_, err = NewDispatcher(Options{Log: l})
	require.ErrorContains(t, err, "no route")
	_, err = NewDispatcher(Options{Route: NewRoute(simpleRoute(time.Second, time.Second, time.Second)),
		Receivers: map[string][]Integration{"r": nil}})
	require.ErrorContains(t, err, "no notification log")
	_, err = NewDispatcher(Options{Route: NewRoute(testTree(t)), Log: l,
		Receivers: map[string][]Integration{"default": nil}})
	require.ErrorContains(t, err, "no receiver team-A")
	// A receiver without integrations is fine (it sends nothing).
	d, err := NewDispatcher(Options{Route: NewRoute(simpleRoute(time.Second, time.Second, time.Second)), Log: l,
		Receivers: map[string][]Integration{"r": nil}})
	require.NoError(t, err)
	d.Stop()
}

func TestDispatcherStopLeavesNoGoroutines(t *testing.T) {
	// Real time, no waiting: groups waiting for group_wait, and one flush
	// blocked in a notifier, all end with Stop.
	entered := make(chan struct{})
	blocking := &fakeNotifier{name: "webhook/0", fn: func(ctx context.Context, b *Batch) (bool, error) {
		if b.GroupLabels["alertname"] == "Old" {
			close(entered)
			<-ctx.Done()
			return true, ctx.Err()
		}
		return false, nil
	}}
	e := newEnv(t, simpleRoute(time.Hour, time.Hour, time.Hour),
		withIntegrations("r", Integration{Kind: "webhook", Notifier: blocking}, Integration{Kind: "webhook", Index: 1, Notifier: &fakeNotifier{}}))
	now := time.Now()
	for i := range 100 {
		e.put(firing(now, "alertname", fmt.Sprintf("a%d", i)))
	}
	e.put(firing(now.Add(-2*time.Hour), "alertname", "Old"))
	<-entered
	e.store.SetDispatcher(nil)
	e.disp.Stop()
	goleak.VerifyNone(t)
	// Alerts put after Stop start nothing.
	e.disp.ingest([]*Alert{received(now, now, now.Add(time.Hour), "alertname", "late")})
	goleak.VerifyNone(t)
}

var errBadRequest = errors.New("400 Bad Request")

func TestDispatchMultipleIntegrationsPartialFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		var failing atomic.Bool
		failing.Store(true)
		bad := &fakeNotifier{name: "webhook/1", rec: rec, fn: func(context.Context, *Batch) (bool, error) {
			if failing.Load() {
				return false, errBadRequest
			}
			return false, nil
		}}
		good := &fakeNotifier{name: "webhook/0", rec: rec}
		e := newEnv(t, simpleRoute(30*time.Second, 5*time.Minute, 4*time.Hour),
			withIntegrations("r",
				Integration{Kind: "webhook", Index: 0, SendResolved: true, Notifier: good},
				Integration{Kind: "webhook", Index: 1, SendResolved: true, Notifier: bad}))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A", "instance", "1"), firing(t0, "alertname", "A", "instance", "2"))
		advance(time.Minute)
		require.Len(t, rec.all(), 2)
		require.Len(t, confirmed(e.log), 1, "only the integration that succeeded is logged")

		// One resolves. Next tick: the good integration sends the
		// resolution, the bad one fails again, so the flush failed and
		// the group keeps the resolved alert.
		e.put(resolved(t0, time.Now(), "alertname", "A", "instance", "2"))
		advance(4*time.Minute + 30*time.Second)
		bs := rec.all()
		require.Len(t, bs, 4)
		require.Len(t, e.disp.Groups()[0].Alerts, 2, "a failed flush keeps the resolved alert")

		// The bad one recovers: it alone sends, with the resolved alert
		// still in; then the resolved alert leaves the group.
		failing.Store(false)
		advance(5 * time.Minute)
		bs = rec.all()
		require.Len(t, bs, 5, "only the integration that failed sends again")
		require.Equal(t, "webhook/1", bs[4].Integration)
		require.Equal(t, "A/1", ids(bs[4].Firing))
		require.Equal(t, "A/2", ids(bs[4].Resolved))
		require.Len(t, e.disp.Groups()[0].Alerts, 1)
		require.Len(t, logEntries(e.log), 2)
	})
}
