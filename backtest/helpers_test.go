package backtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/rules"
)

// t0 is the start of every test's time line; offsets are minutes from it.
var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// fakeSeries is a series that an expression returns, with value 1, at the
// evaluation times in its windows [start, end).
type fakeSeries struct {
	labels  labels.Labels
	windows [][2]time.Duration
}

func (s fakeSeries) in(ts time.Time) bool {
	for _, w := range s.windows {
		if !ts.Before(at(w[0])) && ts.Before(at(w[1])) {
			return true
		}
	}
	return false
}

// fakeSource answers instant and range queries from fixed series, and
// counts the queries. An expression in errs fails.
type fakeSource struct {
	series map[string][]fakeSeries
	errs   map[string]error

	mu               sync.Mutex
	ranges, instants int
	rangeSteps       int // the most steps of one range query
}

func (f *fakeSource) vector(expr string, ts time.Time) (promql.Vector, error) {
	if err := f.errs[expr]; err != nil {
		return nil, err
	}
	var vec promql.Vector
	for _, s := range f.series[expr] {
		if s.in(ts) {
			vec = append(vec, promql.Sample{Metric: s.labels, T: ts.UnixMilli(), F: 1})
		}
	}
	return vec, nil
}

// Query implements evaluator.Querier.
func (f *fakeSource) Query(_ context.Context, expr string, ts time.Time) (promql.Vector, error) {
	f.mu.Lock()
	f.instants++
	f.mu.Unlock()
	return f.vector(expr, ts)
}

// QueryRange implements RangeQuerier.
func (f *fakeSource) QueryRange(_ context.Context, expr string, start, end time.Time, step time.Duration) (promql.Matrix, error) {
	f.mu.Lock()
	f.ranges++
	f.rangeSteps = max(f.rangeSteps, int(end.Sub(start)/step))
	f.mu.Unlock()
	if err := f.errs[expr]; err != nil {
		return nil, err
	}
	var m promql.Matrix
	for _, s := range f.series[expr] {
		ser := promql.Series{Metric: s.labels}
		for ts := start; !ts.After(end); ts = ts.Add(step) {
			if s.in(ts) {
				ser.Floats = append(ser.Floats, promql.FPoint{T: ts.UnixMilli(), F: 1})
			}
		}
		if len(ser.Floats) > 0 {
			m = append(m, ser)
		}
	}
	return m, nil
}

// instantOnly hides QueryRange, as a datasource without range queries.
type instantOnly struct{ f *fakeSource }

func (q instantOnly) Query(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
	return q.f.Query(ctx, expr, ts)
}

var errBoom = errors.New("boom")

// testOptions returns options for rule file content and the routing
// sections of an alerter.yml, querying src, from t0+from to t0+to at a
// 1-minute step (resend_delay 1m).
func testOptions(t testing.TB, ruleYAML, routingYAML string, src evaluator.Querier, from, to time.Duration) Options {
	t.Helper()
	f, errs := rules.Parse("rules.yml", []byte(ruleYAML))
	require.Empty(t, errs)
	opts := Options{
		Rules: evaluator.Config{
			Files:             []*rules.File{f},
			Datasources:       map[string]evaluator.Datasource{"prom": {Name: "prom", Querier: src}},
			DefaultDatasource: "prom",
			DefaultInterval:   time.Minute,
			ResendDelay:       time.Minute,
		},
		From: at(from), To: at(to), Step: time.Minute,
	}
	if routingYAML != "" {
		cfg, err := config.Parse("alerter.yml", []byte(routingYAML))
		require.NoError(t, err)
		opts.Routing = cfg.Routing
	}
	return opts
}

// firing is an Interval in minutes (and seconds) from t0; end 0: still
// firing.
func firing(start, end time.Duration) Interval {
	i := Interval{Start: at(start)}
	if end != 0 {
		i.End = at(end)
	}
	return i
}

// sent is a notification as the tests compare them.
type sent struct {
	at               time.Duration
	receiver, integr string
	group            string
	firing, resolved int
	muted            int
	reason           string
}

func notifications(rep *Report) []sent {
	var out []sent
	for _, r := range rep.Receivers {
		for _, n := range r.Notifications {
			out = append(out, sent{
				at: n.Time.Sub(t0), receiver: n.Receiver, integr: n.Integration, group: n.GroupKey,
				firing: n.Firing, resolved: n.Resolved, muted: n.Muted, reason: n.Reason,
			})
		}
	}
	return out
}

// intervals returns each rule's intervals by the label sets' strings.
func intervals(rep *Report) map[string]map[string][]Interval {
	out := map[string]map[string][]Interval{}
	for _, r := range rep.Rules {
		m := map[string][]Interval{}
		for _, a := range r.Alerts {
			m[a.Labels.String()] = a.Firing
		}
		out[r.Name] = m
	}
	return out
}

const m = time.Minute
