package ruletest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/alerter/alerter/rules"
)

// chunkSteps is how many evaluation steps one range query covers at most.
const chunkSteps = 720

// stepQuerier answers the evaluator's queries. A rule is queried at every
// evaluation step, and a test may have tens of thousands of steps (a 20-day
// eval_time at the default 1m), so where it is safe stepQuerier answers an
// expression from range queries instead, each covering up to chunkSteps
// steps, run over a second store that holds the whole input from the
// start. Prometheus guarantees that a range query gives at each step what
// an instant query at that step gives, so this changes no verdict when
// the expression:
//
//   - reads only input series: every selector names its metric, and none is
//     written by a rule (a recording rule's name, ALERTS, ALERTS_FOR_STATE);
//   - reads nothing after its evaluation time: no @ modifier and no
//     negative offset (promtool loads the input step by step);
//   - evaluates without error over the range, within the engine's sample
//     limit (a range query holds at least the samples of any of its steps,
//     so a step over the limit makes the range fail too).
//
// Every other query, and every query once one fails or the input could
// not be loaded, is an instant query on the test's store.
type stepQuerier struct {
	instant *store // the test's store: input loaded as time goes, rule output
	full    *store // the whole input; nil when the cache is off
	parser  parser.Parser
	step    time.Duration
	end     time.Time // the last evaluation time
	outputs map[string]bool

	mu    sync.Mutex
	exprs map[string]*stepEntry
}

// stepEntry is what is known of one expression.
type stepEntry struct {
	cacheable bool
	from      time.Time       // time of vectors[0]
	vectors   []promql.Vector // results at from, from+step, ...
}

// newStepQuerier returns a querier over the test's store. full holds the
// whole input (nil turns the cache off); files are the rule files, whose
// recorded names cannot be read from full.
func newStepQuerier(instant, full *store, p parser.Parser, step time.Duration, end time.Time, files []*rules.File) *stepQuerier {
	q := &stepQuerier{
		instant: instant, full: full, parser: p, step: step, end: end,
		outputs: map[string]bool{"ALERTS": true, "ALERTS_FOR_STATE": true},
		exprs:   map[string]*stepEntry{},
	}
	for _, f := range files {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if !r.IsAlerting() {
					q.outputs[r.Record] = true
				}
			}
		}
	}
	return q
}

// disable makes every later query an instant query, for when the test's
// store no longer holds what full holds.
func (q *stepQuerier) disable() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.full = nil
}

// Query implements evaluator.Querier.
func (q *stepQuerier) Query(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
	if vec, ok := q.cached(ctx, expr, ts); ok {
		return vec, nil
	}
	return q.instant.Query(ctx, expr, ts)
}

// cached returns the result of expr at ts from a range query, or false.
func (q *stepQuerier) cached(ctx context.Context, expr string, ts time.Time) (promql.Vector, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.full == nil || ts.After(q.end) {
		return nil, false
	}
	e := q.exprs[expr]
	if e == nil {
		e = &stepEntry{cacheable: q.cacheable(expr)}
		q.exprs[expr] = e
	}
	if !e.cacheable {
		return nil, false
	}
	i, ok := e.index(ts, q.step)
	if !ok {
		if e.vectors, ok = q.rangeQuery(ctx, expr, ts); !ok {
			e.cacheable, e.vectors = false, nil
			return nil, false
		}
		e.from, i = ts, 0
	}
	// The caller may change the samples (a recording rule renames them).
	return slices.Clone(e.vectors[i]), true
}

// index returns the position of ts among the cached steps.
func (e *stepEntry) index(ts time.Time, step time.Duration) (int, bool) {
	d := ts.Sub(e.from)
	if len(e.vectors) == 0 || d < 0 || d%step != 0 {
		return 0, false
	}
	i := int(d / step)
	return i, i < len(e.vectors)
}

// cacheable reports whether expr may be answered from range queries.
func (q *stepQuerier) cacheable(expr string) bool {
	e, err := q.parser.ParseExpr(expr)
	if err != nil {
		return false
	}
	ok := true
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name := metricName(n.LabelMatchers)
			ok = ok && name != "" && !q.outputs[name] && n.Timestamp == nil && n.StartOrEnd == 0 &&
				n.OriginalOffset >= 0 && n.OriginalOffsetExpr == nil
		case *parser.SubqueryExpr:
			ok = ok && n.Timestamp == nil && n.StartOrEnd == 0 && n.OriginalOffset >= 0 && n.OriginalOffsetExpr == nil
		}
		return nil
	})
	return ok
}

// metricName returns the name a selector's matchers require, or "".
func metricName(ms []*labels.Matcher) string {
	for _, m := range ms {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// rangeQuery evaluates expr on the full store at ts and the following
// steps up to the last evaluation, chunkSteps at most, and returns one
// vector per step. A range over the sample limit is split; any other
// failure reports false.
func (q *stepQuerier) rangeQuery(ctx context.Context, expr string, ts time.Time) ([]promql.Vector, bool) {
	n := min(chunkSteps, int(q.end.Sub(ts)/q.step)+1)
	for n >= 1 {
		vecs, err := q.full.rangeQuery(ctx, expr, ts, ts.Add(time.Duration(n-1)*q.step), q.step)
		var tooMany promql.ErrTooManySamples
		switch {
		case err == nil:
			return vecs, true
		case errors.As(err, &tooMany) && n > 1:
			n /= 2
		default:
			return nil, false
		}
	}
	return nil, false
}

// rangeQuery runs a range query and returns its result as one vector per
// step, as the instant queries at those steps would return it.
func (s *store) rangeQuery(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]promql.Vector, error) {
	qry, err := s.engine.NewRangeQuery(ctx, s.db, nil, expr, start, end, step)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	mat, ok := res.Value.(promql.Matrix)
	if !ok {
		return nil, errors.New("range query result is not a matrix")
	}
	vecs := make([]promql.Vector, int(end.Sub(start)/step)+1)
	at := func(t int64) int { return int(time.UnixMilli(t).Sub(start) / step) }
	for _, series := range mat {
		for _, p := range series.Floats {
			i := at(p.T)
			vecs[i] = append(vecs[i], promql.Sample{Metric: series.Metric, T: p.T, F: p.F})
		}
		for _, p := range series.Histograms {
			i := at(p.T)
			vecs[i] = append(vecs[i], promql.Sample{Metric: series.Metric, T: p.T, H: p.H})
		}
	}
	return vecs, nil
}
