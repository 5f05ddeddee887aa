package backtest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/silences"
)

// differentialRouting routes by alertname, with a child route that
// continues for severity=page, an inhibit rule (page mutes ticket of the
// same service) and send_resolved on the page receiver.
func differentialRouting(t *testing.T) *config.Routing {
	m := func(n, v string) *labels.Matcher {
		mm, err := labels.NewMatcher(labels.MatchEqual, n, v)
		require.NoError(t, err)
		return mm
	}
	d := func(x time.Duration) *time.Duration { return &x }
	return &config.Routing{
		Route: &config.Route{
			Receiver: "team", GroupBy: []model.LabelName{"alertname"},
			GroupWait: d(30 * time.Second), GroupInterval: d(5 * time.Minute), RepeatInterval: d(time.Hour),
			Routes: []*config.Route{{Receiver: "pager", Matchers: labels.Matchers{m("severity", "page")}, Continue: true}},
		},
		Receivers: []*config.Receiver{
			{Name: "team", Webhook: []*config.WebhookConfig{{}}},
			{Name: "pager", Webhook: []*config.WebhookConfig{{SendResolved: true}, {}}},
		},
		InhibitRules: []*config.InhibitRule{{
			SourceMatchers: labels.Matchers{m("severity", "page")},
			TargetMatchers: labels.Matchers{m("severity", "ticket")},
			Equal:          []model.LabelName{"svc"},
		}},
		ResolveTimeout: 5 * time.Minute,
	}
}

// stream is what rules would hand on, one batch a minute for three hours:
// alerts that fire and resolve at their own times, a page that inhibits a
// ticket for a while, and one that a silence covers for half an hour. The
// jobs order the alerts of a group otherwise than their instances do, as
// Alertmanager sorts a group's alerts by job, then instance.
func stream(start time.Time) [][]*dispatch.Alert {
	type spec struct {
		name, svc, sev, job string
		from, to            int // minutes
	}
	specs := []spec{
		{"DiskFull", "db", "ticket", "2", 3, 100},
		{"DiskFull", "web", "ticket", "1", 10, 40},
		{"Down", "db", "page", "2", 20, 70},
		{"Down", "web", "page", "1", 50, 160},
		{"Latency", "api", "page", "2", 5, 175},
		{"Latency", "edge", "page", "1", 90, 120},
		{"Quiet", "queue", "ticket", "1", 30, 150},
	}
	var batches [][]*dispatch.Alert
	for minute := range 180 {
		now := start.Add(time.Duration(minute) * time.Minute)
		var b []*dispatch.Alert
		for _, s := range specs {
			a := &dispatch.Alert{
				Labels: model.LabelSet{
					"alertname": model.LabelValue(s.name), "svc": model.LabelValue(s.svc), "severity": model.LabelValue(s.sev),
					"instance": model.LabelValue(s.svc + ":9100"), "job": model.LabelValue(s.job),
				},
				StartsAt: start.Add(time.Duration(s.from) * time.Minute),
			}
			switch {
			case minute < s.from || minute > s.to+15:
				continue
			case minute < s.to:
				a.EndsAt = now.Add(4 * time.Minute)
			default: // resolved, handed on again for 15 minutes
				a.EndsAt = start.Add(time.Duration(s.to) * time.Minute)
			}
			b = append(b, a)
		}
		batches = append(batches, b)
	}
	return batches
}

// line renders a notification for comparison, its alerts in the order
// they were sent.
func line(start, at time.Time, receiver, integration, groupKey, reason string, alerts []string) string {
	return fmt.Sprintf("%5s %s %s %s %q %s", at.Sub(start), receiver, integration, groupKey, reason, strings.Join(alerts, ","))
}

// liveRecorder records what a live dispatcher sends.
type liveRecorder struct {
	start       time.Time
	integration string
	mu          *sync.Mutex
	lines       *[]string
}

func (r liveRecorder) Notify(_ context.Context, b *dispatch.Batch) (bool, error) {
	var alerts []string
	for _, a := range b.Alerts {
		st := "firing"
		if a.ResolvedAt(b.Now) {
			st = "resolved"
		}
		alerts = append(alerts, string(a.Labels["svc"])+"/"+st)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.lines = append(*r.lines, line(r.start, b.Now, b.Receiver, r.integration, b.GroupKey, b.Reason.String(), alerts))
	return false, nil
}

// TestBacktestRunsTheLiveDispatcher: the same alert stream, through the
// running dispatcher on real timers (in a synctest bubble) and through the
// backtest's simulation, gives the same notifications: the same times,
// receivers, integrations, groups, reasons and alerts.
func TestBacktestRunsTheLiveDispatcher(t *testing.T) {
	rt := differentialRouting(t)
	silenceMatchers := func() labels.Matchers {
		m, err := labels.NewMatcher(labels.MatchEqual, "alertname", "Quiet")
		require.NoError(t, err)
		return labels.Matchers{m}
	}

	var live []string
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		sils := []silences.Silence{{ID: "s1", Matchers: silenceMatchers(), StartsAt: start.Add(40 * time.Minute), EndsAt: start.Add(70 * time.Minute)}}
		var mu sync.Mutex
		receivers := map[string][]dispatch.Integration{}
		for _, r := range rt.Receivers {
			for i, w := range r.Webhook {
				receivers[r.Name] = append(receivers[r.Name], dispatch.Integration{Kind: "webhook", Index: i, SendResolved: w.SendResolved,
					Notifier: liveRecorder{start: start, integration: fmt.Sprintf("webhook/%d", i), mu: &mu, lines: &live}})
			}
		}
		log, err := dispatch.NewNotificationLog(context.Background(), nil, 120*time.Hour)
		require.NoError(t, err)
		clock := newSimClock(start) // for the silences only: kept at the bubble's time below
		d, err := dispatch.NewDispatcher(dispatch.Options{
			Route: dispatch.NewRoute(rt.Route), Receivers: receivers, Inhibitor: dispatch.NewInhibitor(rt.InhibitRules),
			Silencer: silencesAt{list: sils, clock: clock}, TimeIntervals: timeinterval.NewIntervener(nil), Log: log,
		})
		require.NoError(t, err)
		store := dispatch.NewStore(rt.ResolveTimeout, nil)
		store.SetDispatcher(d)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // the silences' clock follows the bubble's; the store is collected every minute
			defer close(done)
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
					clock.set(time.Now())
					if n%60 == 0 {
						store.GC()
					}
				}
			}
		}()
		for i, b := range stream(start) {
			time.Sleep(time.Until(start.Add(time.Duration(i)*time.Minute + time.Millisecond)))
			clock.set(time.Now())
			require.NoError(t, store.Put(b))
		}
		time.Sleep(time.Until(start.Add(3 * time.Hour)))
		close(stop)
		<-done
		d.Stop()
		mu.Lock()
		defer mu.Unlock()
		for i := range live { // times to the second, as the simulation has them
			live[i] = strings.Replace(live[i], ".001s", "s", 1)
		}
	})

	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sils := []silences.Silence{{ID: "s1", Matchers: silenceMatchers(), StartsAt: start.Add(40 * time.Minute), EndsAt: start.Add(70 * time.Minute)}}
	sim, err := newSimulator(Options{From: start, Routing: rt, Silences: sils, LogRetention: 120 * time.Hour})
	require.NoError(t, err)
	for i, b := range stream(start) {
		at := start.Add(time.Duration(i)*time.Minute + time.Millisecond)
		sim.advance(at, false)
		sim.receive(at, b)
	}
	sim.advance(start.Add(3*time.Hour), false)
	var rep Report
	sim.report(&rep)
	var simulated []string
	for _, r := range rep.Receivers {
		for _, n := range r.Notifications {
			var alerts []string
			for _, a := range n.Alerts {
				alerts = append(alerts, string(a.Labels["svc"])+"/"+a.Status)
			}
			simulated = append(simulated, strings.Replace(line(start, n.Time, n.Receiver, n.Integration, n.GroupKey, n.Reason, alerts), ".001s", "s", 1))
		}
	}
	sort.Strings(live)
	sort.Strings(simulated)
	require.Greater(t, len(live), 15, "the stream makes notifications")
	require.Equal(t, live, simulated)
}
