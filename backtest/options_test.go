package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/silences"
)

const ruleA = "groups: [{name: g, rules: [{alert: A, expr: a, for: 5m}]}]"

// A long range is split into range queries of at most MaxRangePoints
// steps, with the same outcome.
func TestChunks(t *testing.T) {
	series := map[string][]fakeSeries{"a": {inst("a", "x", win(10*m, 30*m), win(50*m, 58*m))}}
	src := &fakeSource{series: series}
	opts := testOptions(t, ruleA, routingYAML, src, 0, 60*m)
	opts.MaxRangePoints = 7
	rep, err := Run(context.Background(), opts)
	require.NoError(t, err)
	require.Equal(t, 8, src.ranges, "61 evaluations in chunks of 8 points (7 steps)")
	require.Equal(t, 7, src.rangeSteps)
	require.Zero(t, src.instants)
	require.Equal(t, 8, rep.RangeQueries)
	require.Equal(t, 61, rep.Evaluations)
	require.Equal(t, []Interval{firing(15*m, 30*m), firing(55*m, 58*m)}, rep.Rules[0].Alerts[0].Firing)
	// The second resolution's flush (60m30s) falls after the range.
	require.Len(t, rep.Receivers[0].Notifications, 3)
}

// A failed range query fails the evaluations it covers, as a failed query
// does in the evaluator: the alerts keep their state meanwhile.
func TestQueryFailure(t *testing.T) {
	src := &fakeSource{
		series: map[string][]fakeSeries{"a": {inst("a", "x", win(10*m, 30*m))}, "b": {inst("b", "x", win(10*m, 30*m))}},
		errs:   map[string]error{"b": errBoom},
	}
	rules := "groups: [{name: g, rules: [{alert: A, expr: a, for: 5m}, {alert: B, expr: b}]}]"
	rep, err := Run(context.Background(), testOptions(t, rules, routingYAML, src, 0, 60*m))
	require.NoError(t, err)
	require.Equal(t, "B", rep.Rules[1].Name)
	require.Equal(t, 61, rep.Rules[1].FailedEvaluations)
	require.Equal(t, "boom", rep.Rules[1].Error)
	require.Empty(t, rep.Rules[1].Alerts)
	require.Zero(t, rep.Rules[0].FailedEvaluations)
	require.Len(t, rep.Rules[0].Alerts, 1)
}

// Without --step, a group is evaluated at its interval, or at the runs of
// its cron schedule (by instant queries).
func TestGroupSchedules(t *testing.T) {
	src := &fakeSource{series: map[string][]fakeSeries{"a": {inst("a", "x", win(10*m, 30*m))}}}
	rules := `groups:
- {name: every2m, interval: 2m, rules: [{alert: A, expr: a, for: 5m}]}
- {name: cron, schedule: "*/10 * * * *", rules: [{alert: A, expr: a}]}`
	opts := testOptions(t, rules, routingYAML, src, 0, 60*m)
	opts.Step = 0
	rep, err := Run(context.Background(), opts)
	require.NoError(t, err)
	require.Equal(t, 31, rep.Rules[0].Evaluations)
	require.Equal(t, 2*time.Minute, rep.Rules[0].Step)
	require.Equal(t, 1, rep.Rules[0].RangeQueries)
	// Active at 10m, firing at 16m (the first 2m step at least 5m later).
	require.Equal(t, []Interval{firing(16*m, 30*m)}, rep.Rules[0].Alerts[0].Firing)
	require.Equal(t, 7, rep.Rules[1].Evaluations)
	require.Equal(t, 7, rep.Rules[1].InstantQueries)
	require.Equal(t, []Interval{firing(10*m, 30*m)}, rep.Rules[1].Alerts[0].Firing)
	require.Equal(t, 7, src.instants)
}

func TestInvalidOptions(t *testing.T) {
	src := &fakeSource{}
	for name, change := range map[string]func(*Options){
		"to before from": func(o *Options) { o.To = o.From.Add(-time.Second) },
		"no from":        func(o *Options) { o.From = time.Time{} },
		"bad step":       func(o *Options) { o.Step = time.Microsecond },
		"unknown rule":   func(o *Options) { o.Rule = "Nope" },
		"too many":       func(o *Options) { o.MaxEvaluations = 60 },
		"no datasource":  func(o *Options) { o.Rules.DefaultDatasource = "other" },
	} {
		opts := testOptions(t, ruleA, "", src, 0, 60*m)
		change(&opts)
		_, err := Run(context.Background(), opts)
		require.ErrorIs(t, err, ErrInvalid, name)
	}
	opts := testOptions(t, "groups: [{name: g, rules: [{record: r, expr: a}]}]", "", src, 0, 60*m)
	_, err := Run(context.Background(), opts)
	require.ErrorContains(t, err, "no alerting rules")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Run(ctx, testOptions(t, ruleA, "", src, 0, 60*m))
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrInvalid)
}

// --rule selects rules by name; without a route nothing is routed.
func TestRuleFilterAndOutput(t *testing.T) {
	src := &fakeSource{series: map[string][]fakeSeries{"a": {inst("a", "x", win(10*m, 30*m))}}}
	rules := "groups: [{name: g, rules: [{alert: A, expr: a, for: 5m}, {alert: B, expr: a}]}]"
	opts := testOptions(t, rules, "", src, 0, 20*m)
	opts.Rule = "A"
	rep, err := Run(context.Background(), opts)
	require.NoError(t, err)
	require.Len(t, rep.Rules, 1)
	require.Empty(t, rep.Receivers)

	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, rep))
	require.Equal(t, `Backtest from 2024-01-01T00:00:00Z to 2024-01-01T00:20:00Z, step 1m: 1 alerting rule, 21 evaluations, 1 range query.

Rule A (rules.yml, group "g", for 5m): 21 evaluations
  {alertname="A", instance="x"}
    firing  2024-01-01T00:15:00Z  still firing  ≥ 5m

No route is configured: nothing would have been sent.
`, buf.String())

	b, err := json.Marshal(rep)
	require.NoError(t, err)
	require.JSONEq(t, `{"from":"2024-01-01T00:00:00Z","to":"2024-01-01T00:20:00Z","step":"1m",
		"evaluations":21,"range_queries":1,"instant_queries":0,"receivers":[],
		"rules":[{"name":"A","file":"rules.yml","group":"g","query":"a","for":"5m","step":"1m",
			"evaluations":21,"failed_evaluations":0,"range_queries":1,"instant_queries":0,
			"alerts":[{"labels":{"alertname":"A","instance":"x"},"firing":[{"start":"2024-01-01T00:15:00Z","end":null}]}]}]}`, string(b))
}

func TestTextWithNotifications(t *testing.T) {
	src := &fakeSource{series: map[string][]fakeSeries{"a": {inst("a", "x", win(10*m, 30*m))}}}
	opts := testOptions(t, ruleA, routingYAML, src, 0, 40*m)
	rep, err := Run(context.Background(), opts)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, rep))
	require.Contains(t, buf.String(), `
    firing  2024-01-01T00:15:00Z  2024-01-01T00:30:00Z  15m

Receiver team: 2 notifications
  TIME                  INTEGRATION  FIRING  RESOLVED  MUTED  REASON               GROUP
  2024-01-01T00:15:30Z  webhook/0    1       0         0      first notification   {}:{alertname="A"}
  2024-01-01T00:30:30Z  webhook/0    0       1         0      all alerts resolved  {}:{alertname="A"}
`)
}

func TestParseTime(t *testing.T) {
	now := time.Date(2024, 5, 8, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                       now,
		"-7d":                       now.Add(-7 * 24 * time.Hour),
		"now-1h30m":                 now.Add(-90 * time.Minute),
		"+1w":                       now.Add(7 * 24 * time.Hour),
		"2024-05-01T12:00:00Z":      time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		"2024-05-01T14:00:00+02:00": time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		"1714564800.5":              time.Date(2024, 5, 1, 12, 0, 0, 5e8, time.UTC),
	} {
		got, err := ParseTime(in, now)
		require.NoError(t, err, in)
		require.True(t, want.Equal(got), "%s: %s", in, got)
	}
	for _, in := range []string{"", "yesterday", "now-", "-7x", "nowish", "2024-05-01", "NaN"} {
		_, err := ParseTime(in, now)
		require.ErrorIs(t, err, ErrInvalid, in)
	}
}

func TestParseStep(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "1m": time.Minute, "1h30m": 90 * time.Minute, "15": 15 * time.Second, "0.5": 500 * time.Millisecond} {
		got, err := ParseStep(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"0", "0s", "-1m", "soon", "0.0001"} {
		_, err := ParseStep(in)
		require.ErrorIs(t, err, ErrInvalid, in)
	}
}

// A template's query is an instant query at the evaluation time; the
// rule's own expression still comes from the range query.
func TestTemplateQueries(t *testing.T) {
	src := &fakeSource{series: map[string][]fakeSeries{
		"a":  {inst("a", "x", win(10*m, 12*m))},
		"up": {inst("up", "x", win(0, 60*m))},
	}}
	rules := `groups: [{name: g, rules: [{alert: A, expr: a, annotations: {n: '{{ with query "up" }}{{ len . }}{{ end }}'}}]}]`
	rep, err := Run(context.Background(), testOptions(t, rules, routingYAML, src, 0, 20*m))
	require.NoError(t, err)
	require.Equal(t, 1, src.ranges)
	require.Equal(t, 2, src.instants, "one per evaluation that returned a sample")
	require.Equal(t, 2, rep.Rules[0].InstantQueries)
	require.Equal(t, []Interval{firing(10*m, 12*m)}, rep.Rules[0].Alerts[0].Firing)
}

func TestStepTable(t *testing.T) {
	a, b := inst("a", "x").labels, inst("a", "y").labels
	mtx := promql.Matrix{
		{Metric: a, Floats: []promql.FPoint{{T: at(0).UnixMilli(), F: 1}, {T: at(2 * m).UnixMilli(), F: 3}, {T: at(90 * time.Second).UnixMilli(), F: 9}}},
		{Metric: b, Floats: []promql.FPoint{{T: at(2 * m).UnixMilli(), F: 4}, {T: at(3 * m).UnixMilli(), F: 5}}},
	}
	tbl := newStepTable(mtx, at(0), time.Minute, 3)
	get := func(ts time.Time) promql.Vector {
		vec, ok := tbl.at(ts)
		require.True(t, ok, ts)
		return vec
	}
	require.Equal(t, promql.Vector{{Metric: a, T: at(0).UnixMilli(), F: 1}}, get(at(0)))
	require.Empty(t, get(at(m)))
	require.Equal(t, promql.Vector{{Metric: a, T: at(2 * m).UnixMilli(), F: 3}, {Metric: b, T: at(2 * m).UnixMilli(), F: 4}}, get(at(2*m)))
	for _, ts := range []time.Time{at(-m), at(3 * m), at(90 * time.Second), at(m).Add(time.Microsecond)} {
		_, ok := tbl.at(ts)
		require.False(t, ok, "off the table: %s", ts)
	}
	var none *stepTable
	_, ok := none.at(at(0))
	require.False(t, ok)
}

// WriteJSON streams what json.Marshal writes.
func TestWriteJSON(t *testing.T) {
	src := &fakeSource{series: map[string][]fakeSeries{"a": {inst("a", "x", win(10*m, 30*m)), inst("a", "y", win(12*m, 50*m))}}}
	opts := testOptions(t, ruleA, routingYAML, src, 0, 60*m)
	opts.Silences = []silences.Silence{{ID: "s1", Matchers: mustMatchers(t, `alertname="A"`), StartsAt: at(0), EndsAt: at(16 * m)}}
	rep, err := Run(context.Background(), opts)
	require.NoError(t, err)
	require.NotEmpty(t, rep.Receivers[0].Suppressed)
	want, err := json.Marshal(rep)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, rep))
	require.JSONEq(t, string(want), buf.String())

	rep.Step, rep.Receivers = 0, []ReceiverReport{}
	want, err = json.Marshal(rep)
	require.NoError(t, err)
	buf.Reset()
	require.NoError(t, WriteJSON(&buf, rep))
	require.JSONEq(t, string(want), buf.String())
}
