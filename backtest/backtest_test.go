package backtest

import (
	"context"
	"testing"
	"time"

	amlabels "github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/silences"
)

// routingYAML routes everything to "team" by alertname: group_wait 30s,
// group_interval 5m, repeat_interval 4h, one webhook with send_resolved.
const routingYAML = `
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
- name: team
  webhook_configs:
  - url: http://hooks.invalid/team
    send_resolved: true
`

func inst(name, instance string, windows ...[2]time.Duration) fakeSeries {
	return fakeSeries{labels: labels.FromStrings("__name__", name, "instance", instance), windows: windows}
}

func win(from, to time.Duration) [2]time.Duration { return [2]time.Duration{from, to} }

func mustMatchers(t *testing.T, s string) amlabels.Matchers {
	ms, err := amlabels.ParseMatchers(s)
	require.NoError(t, err)
	return ms
}

// The expected intervals and notifications below are worked out by hand
// from Prometheus' and Alertmanager's rules; each case says how.
func TestBacktest(t *testing.T) {
	type tc struct {
		name     string
		rules    string
		routing  string
		series   map[string][]fakeSeries
		silences func(t *testing.T) []silences.Silence
		to       time.Duration
		want     map[string]map[string][]Interval
		sent     []sent
		muted    []Suppression // GroupKey, Reason, From, Until, Flushes, Alerts
	}
	const (
		groupA = `{}:{alertname="A"}`
		mutedA = `{}/{alertname="A"}:{alertname="A"}`
	)
	tests := []tc{{
		// Active at 10m, firing at 15m (for 5m), gone at 30m. The group is
		// made at 15m: first flush at 15m30s, then every 5m; the resolution
		// reaches the flush at 30m30s. The resolved alert, re-sent until
		// 15m after it resolved, makes no further notification.
		name:   "for, group_wait, group_interval, send_resolved",
		rules:  "groups: [{name: g, rules: [{alert: A, expr: a, for: 5m}]}]",
		series: map[string][]fakeSeries{"a": {inst("a", "x", win(10*m, 30*m))}},
		to:     60 * m,
		want:   map[string]map[string][]Interval{"A": {`{alertname="A", instance="x"}`: {firing(15*m, 30*m)}}},
		sent: []sent{
			{at: 15*m + 30*time.Second, firing: 1, reason: "first notification"},
			{at: 30*m + 30*time.Second, resolved: 1, reason: "all alerts resolved"},
		},
	}, {
		// Pending for 4 evaluations (10m..13m) then gone: never fires.
		name:   "for not reached",
		rules:  "groups: [{name: g, rules: [{alert: A, expr: a, for: 5m}]}]",
		series: map[string][]fakeSeries{"a": {inst("a", "x", win(10*m, 14*m))}},
		to:     60 * m,
		want:   map[string]map[string][]Interval{"A": {}},
	}, {
		// Firing at 10m (for 0). Gone at 12m..14m: keep_firing_for 3m holds
		// it (0, 1m, 2m < 3m) until it is back at 14m. Gone again at 16m:
		// held at 16m, 17m, 18m and resolved at 19m (3m is not < 3m).
		name:   "keep_firing_for bridges a gap shorter than it, not one as long",
		rules:  "groups: [{name: g, rules: [{alert: A, expr: a, keep_firing_for: 3m}]}]",
		series: map[string][]fakeSeries{"a": {inst("a", "x", win(10*m, 12*m), win(14*m, 16*m), win(40*m, 41*m))}},
		to:     60 * m,
		want: map[string]map[string][]Interval{"A": {`{alertname="A", instance="x"}`: {
			firing(10*m, 19*m), firing(40*m, 44*m),
		}}},
		sent: []sent{
			{at: 10*m + 30*time.Second, firing: 1, reason: "first notification"},
			{at: 20*m + 30*time.Second, resolved: 1, reason: "all alerts resolved"},
			// A new group at 40m: the log's last entry resolved everything.
			{at: 40*m + 30*time.Second, firing: 1, reason: "first notification"},
			{at: 45*m + 30*time.Second, resolved: 1, reason: "all alerts resolved"},
		},
	}, {
		// x fires at 0m (first flush 30s); y joins at 20m, flushed at
		// 20m30s ("new alerts added", 2 firing); repeat_interval 1h passes
		// strictly after 1h20m30s, so at the flush of 1h25m30s.
		name:  "group_interval and repeat_interval",
		rules: "groups: [{name: g, rules: [{alert: A, expr: a}]}]",
		routing: `
route: {receiver: team, group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 1h}
receivers: [{name: team, webhook_configs: [{url: http://hooks.invalid/team, send_resolved: true}]}]
`,
		series: map[string][]fakeSeries{"a": {inst("a", "x", win(0, 3*time.Hour)), inst("a", "y", win(20*m, 3*time.Hour))}},
		to:     2 * time.Hour,
		want: map[string]map[string][]Interval{"A": {
			`{alertname="A", instance="x"}`: {firing(0, 0)},
			`{alertname="A", instance="y"}`: {firing(20*m, 0)},
		}},
		sent: []sent{
			{at: 30 * time.Second, firing: 1, reason: "first notification"},
			{at: 20*m + 30*time.Second, firing: 2, reason: "new alerts added"},
			{at: 85*m + 30*time.Second, firing: 2, reason: "repeat interval elapsed"},
		},
	}, {
		// W fires 10m..40m, C (critical, same instance) 20m..30m. C inhibits
		// W at W's flushes of 20m30s and 25m30s (C's EndsAt is ahead then);
		// at 30m30s C has resolved, and W, already notified, is not sent
		// again. Each group is notified first and resolved.
		name: "inhibition",
		rules: `groups: [{name: g, rules: [
  {alert: W, expr: w, labels: {severity: warning}},
  {alert: C, expr: c, labels: {severity: critical}}]}]`,
		routing: routingYAML + `
inhibit_rules:
- source_matchers: [severity="critical"]
  target_matchers: [severity="warning"]
  equal: [instance]
`,
		series: map[string][]fakeSeries{"w": {inst("w", "x", win(10*m, 40*m))}, "c": {inst("c", "x", win(20*m, 30*m))}},
		to:     60 * m,
		want: map[string]map[string][]Interval{
			"W": {`{alertname="W", instance="x", severity="warning"}`: {firing(10*m, 40*m)}},
			"C": {`{alertname="C", instance="x", severity="critical"}`: {firing(20*m, 30*m)}},
		},
		sent: []sent{
			{at: 10*m + 30*time.Second, group: `{}:{alertname="W"}`, firing: 1, reason: "first notification"},
			{at: 20*m + 30*time.Second, group: `{}:{alertname="C"}`, firing: 1, reason: "first notification"},
			{at: 30*m + 30*time.Second, group: `{}:{alertname="C"}`, resolved: 1, reason: "all alerts resolved"},
			{at: 40*m + 30*time.Second, group: `{}:{alertname="W"}`, resolved: 1, reason: "all alerts resolved"},
		},
		muted: []Suppression{{
			GroupKey: `{}:{alertname="W"}`, Reason: "inhibited", From: at(20*m + 30*time.Second), Until: at(25*m + 30*time.Second), Flushes: 2, Alerts: 1,
		}},
	}, {
		// As the first case, with a silence of A until 20m: the flush at
		// 15m30s is muted, the one at 20m30s is the first notification.
		name:   "silence",
		rules:  "groups: [{name: g, rules: [{alert: A, expr: a, for: 5m}]}]",
		series: map[string][]fakeSeries{"a": {inst("a", "x", win(10*m, 30*m))}},
		silences: func(t *testing.T) []silences.Silence {
			return []silences.Silence{{ID: "s1", Matchers: mustMatchers(t, `alertname="A"`), StartsAt: at(0), EndsAt: at(20 * m)}}
		},
		to:   60 * m,
		want: map[string]map[string][]Interval{"A": {`{alertname="A", instance="x"}`: {firing(15*m, 30*m)}}},
		sent: []sent{
			{at: 20*m + 30*time.Second, firing: 1, reason: "first notification"},
			{at: 30*m + 30*time.Second, resolved: 1, reason: "all alerts resolved"},
		},
		muted: []Suppression{{GroupKey: groupA, Reason: "silenced", From: at(15*m + 30*time.Second), Until: at(15*m + 30*time.Second), Flushes: 1, Alerts: 1}},
	}, {
		// A mute time interval over 00:00-00:20 UTC mutes the flush of
		// 15m30s; the next one, 20m30s, notifies.
		name:  "mute time interval",
		rules: "groups: [{name: g, rules: [{alert: A, expr: a, for: 5m}]}]",
		routing: `
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  routes: [{matchers: [alertname="A"], mute_time_intervals: [early]}]
time_intervals:
- name: early
  time_intervals: [{times: [{start_time: "00:00", end_time: "00:20"}]}]
receivers:
- name: team
  webhook_configs: [{url: http://hooks.invalid/team, send_resolved: false}]
`,
		series: map[string][]fakeSeries{"a": {inst("a", "x", win(10*m, 30*m))}},
		to:     60 * m,
		want:   map[string]map[string][]Interval{"A": {`{alertname="A", instance="x"}`: {firing(15*m, 30*m)}}},
		// With send_resolved false, the resolution is logged, not sent.
		sent:  []sent{{at: 20*m + 30*time.Second, group: mutedA, firing: 1, reason: "first notification"}},
		muted: []Suppression{{GroupKey: mutedA, Reason: "time interval", From: at(15*m + 30*time.Second), Until: at(15*m + 30*time.Second), Flushes: 1, Alerts: 1}},
	}, {
		// query_offset 2m: the evaluation at ts sees the series at ts-2m,
		// so everything happens 2 minutes later.
		name:   "query_offset",
		rules:  "groups: [{name: g, query_offset: 2m, rules: [{alert: A, expr: a, for: 5m}]}]",
		series: map[string][]fakeSeries{"a": {inst("a", "x", win(10*m, 30*m))}},
		to:     60 * m,
		want:   map[string]map[string][]Interval{"A": {`{alertname="A", instance="x"}`: {firing(17*m, 32*m)}}},
		sent: []sent{
			{at: 17*m + 30*time.Second, firing: 1, reason: "first notification"},
			{at: 32*m + 30*time.Second, resolved: 1, reason: "all alerts resolved"},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			routing := tc.routing
			if routing == "" {
				routing = routingYAML
			}
			for _, mode := range []string{"range", "instant"} {
				src := &fakeSource{series: tc.series}
				opts := testOptions(t, tc.rules, routing, src, 0, tc.to)
				if mode == "instant" {
					opts.Rules.Datasources["prom"] = evaluator.Datasource{Name: "prom", Querier: instantOnly{src}}
				}
				if tc.silences != nil {
					opts.Silences = tc.silences(t)
				}
				rep, err := Run(context.Background(), opts)
				require.NoError(t, err)
				require.Equal(t, tc.want, intervals(rep), mode)
				got := notifications(rep)
				for i := range tc.sent {
					w := &tc.sent[i]
					w.receiver, w.integr = "team", "webhook/0"
					if w.group == "" {
						w.group = groupA
					}
				}
				require.Equal(t, tc.sent, got, mode)
				var muted []Suppression
				for _, r := range rep.Receivers {
					muted = append(muted, r.Suppressed...)
				}
				require.Equal(t, tc.muted, muted, mode)
				if mode == "range" {
					require.Equal(t, len(rep.Rules), src.ranges, "one range query per rule")
					require.Zero(t, src.instants)
				} else {
					require.Zero(t, src.ranges)
				}
			}
		})
	}
}
