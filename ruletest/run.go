package ruletest

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/alerter/alerter/datasource/embedded"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/rules"
)

// datasourceName names the test's store in the evaluator's configuration.
const datasourceName = "test"

// suite is what the tests of one file share.
type suite struct {
	evalInterval time.Duration
	order        map[string]int
	fuzzy        bool
	ruleFiles    []*rules.File
	// ruleErrs are the problems of the rule files; every test reports them,
	// as promtool loads the rule files for each test.
	ruleErrs []error
	parser   parser.Parser
	// queryParser parses the queries of every test of the file.
	queryParser *cachingParser
	noStepCache bool
}

// runTest runs one test and returns its failures, each a message in
// promtool's layout.
func (s *suite) runTest(ctx context.Context, tg *testGroup) []string {
	series, err := embedded.ParseTestSeries(tg.InputSeries)
	if err != nil {
		return []string{err.Error()}
	}
	if len(s.ruleErrs) > 0 {
		return errorStrings(s.ruleErrs)
	}
	st, err := openStore(s.evalInterval, s.queryParser)
	if err != nil {
		return []string{err.Error()}
	}
	defer st.Close()
	alertTests, err := indexAlertTests(tg)
	if err != nil {
		return []string{err.Error()}
	}
	r := &testRun{suite: s, tg: tg, store: st, alertTests: alertTests}
	r.start = time.Unix(0, 0).UTC()
	if !tg.StartTimestamp.IsZero() {
		r.start = tg.StartTimestamp.Time
	}
	r.end = r.start.Add(r.maxEvalTime())
	interval := time.Duration(tg.Interval)
	r.loader = embedded.NewTestLoader(series, r.start, interval)
	full := s.fullStore(ctx, series, r.start, r.end, interval)
	if full != nil {
		defer full.Close()
	}
	r.querier = newStepQuerier(st, full, s.queryParser, s.evalInterval, r.end, s.ruleFiles)
	if r.groups, err = s.groups(r.querier, st, tg); err != nil {
		return []string{err.Error()}
	}
	if !r.evaluate(ctx) {
		return r.failures
	}
	r.checkExpressions(ctx)
	return r.failures
}

// minCachedSteps is the number of evaluation steps from which a test
// answers rule queries from range queries (see stepQuerier): below, a
// second store costs more than it saves.
const minCachedSteps = 30

// fullStore returns a store holding every input value up to end, for the
// stepQuerier, or nil when the test is too short to gain from it or the
// store cannot be had.
func (s *suite) fullStore(ctx context.Context, series []embedded.Series, start, end time.Time, interval time.Duration) *store {
	if s.noStepCache || end.Sub(start)/s.evalInterval+1 < minCachedSteps || s.evalInterval%time.Millisecond != 0 {
		return nil
	}
	full, err := openStore(s.evalInterval, s.queryParser)
	if err != nil {
		return nil
	}
	if err := full.load(ctx, embedded.NewTestLoader(series, start, interval).Till(end)); err != nil {
		full.Close()
		return nil
	}
	return full
}

// groups builds the rule groups for one test, in evaluation order: by
// their rank in group_eval_order (groups not named there rank with the
// first), then in file order.
func (s *suite) groups(q evaluator.Querier, st *store, tg *testGroup) ([]*evaluator.Group, error) {
	ds := evaluator.Datasource{Name: datasourceName, Querier: q, Appender: st}
	cfg := evaluator.Config{
		Files:             s.ruleFiles,
		Datasources:       map[string]evaluator.Datasource{datasourceName: ds},
		DefaultDatasource: datasourceName,
		DefaultInterval:   time.Duration(tg.Interval),
		ResendDelay:       time.Minute,
		// One rule after the other, as promtool evaluates them.
		Concurrency:    1,
		ExternalLabels: tg.ExternalLabels,
	}
	// A group that names a datasource (an alerter extension) reads the test
	// data too.
	for _, f := range s.ruleFiles {
		for _, g := range f.Groups {
			if g.Datasource != "" {
				cfg.Datasources[g.Datasource] = ds
			}
		}
	}
	if tg.ExternalURL != "" {
		if u, err := url.Parse(tg.ExternalURL); err == nil {
			cfg.ExternalURL = u
		}
	}
	groups, err := evaluator.NewGroups(cfg, evaluator.Options{})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(groups, func(a, b *evaluator.Group) int { return s.order[a.Name()] - s.order[b.Name()] })
	return groups, nil
}

// indexAlertTests groups the alert tests by eval_time.
func indexAlertTests(tg *testGroup) (map[model.Duration][]alertTestCase, error) {
	out := map[model.Duration][]alertTestCase{}
	for _, at := range tg.AlertRuleTests {
		if at.Alertname == "" {
			where := ""
			if tg.Name != "" {
				where = fmt.Sprintf(" (in TestGroup %s)", tg.Name)
			}
			return nil, fmt.Errorf("an item under alert_rule_test misses required attribute alertname at eval_time %v%s", at.EvalTime, where)
		}
		out[at.EvalTime] = append(out[at.EvalTime], at)
	}
	return out, nil
}

// testRun is one test being run.
type testRun struct {
	*suite
	tg         *testGroup
	store      *store
	groups     []*evaluator.Group
	alertTests map[model.Duration][]alertTestCase
	start, end time.Time
	loader     *embedded.TestLoader
	querier    *stepQuerier
	failures   []string
}

func (r *testRun) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// evaluate evaluates every group at each evaluation_interval from the
// start to the last eval_time of the test, appending the input values due
// before each evaluation, and checks the alert tests on the way: a test at
// eval_time t is checked against the evaluation at the last step at or
// before t. It returns false when a rule failed to evaluate: then the test
// stops at that step, as in promtool.
func (r *testRun) evaluate(ctx context.Context) bool {
	times := slices.Sorted(maps.Keys(r.alertTests))
	next := 0
	for ts := r.start; !ts.After(r.end); ts = ts.Add(r.evalInterval) {
		if err := ctx.Err(); err != nil {
			r.fail("    interrupted at time %s: %v", model.Duration(ts.Sub(r.start)), err)
			return false
		}
		if err := r.store.load(ctx, r.loader.Till(ts)); err != nil {
			r.fail("%s", err)
			r.querier.disable() // the store now lacks input the cache has
		} else if !r.evalGroups(ctx, ts) {
			return false
		}
		for next < len(times) && time.Duration(times[next]) < ts.Add(r.evalInterval).Sub(r.start) {
			r.checkAlerts(times[next])
			next++
		}
	}
	return true
}

// evalGroups evaluates every group at ts and reports whether every rule
// evaluated without error; the errors are failures.
func (r *testRun) evalGroups(ctx context.Context, ts time.Time) bool {
	ok := true
	for _, g := range r.groups {
		g.Eval(ctx, ts)
		for i, msg := range g.LastErrors() {
			if msg != "" {
				r.fail("    rule: %s, time: %s, err: %s", g.RuleNames()[i], model.Duration(ts.Sub(r.start)), msg)
				ok = false
			}
		}
	}
	return ok
}

// maxEvalTime returns the latest eval_time of the test's checks.
func (r *testRun) maxEvalTime() time.Duration {
	var m model.Duration
	for _, at := range r.tg.AlertRuleTests {
		m = max(m, at.EvalTime)
	}
	for _, pt := range r.tg.PromqlExprTests {
		m = max(m, pt.EvalTime)
	}
	return time.Duration(m)
}

// checkAlerts compares the alerts firing now with those expected at t, for
// each alert test at t.
func (r *testRun) checkAlerts(t model.Duration) {
	tests := r.alertTests[t]
	names := map[string]bool{}
	for _, at := range tests {
		names[at.Alertname] = true
	}
	// The same alert name may be used by rules in several groups: their
	// alerts are compared together.
	got := map[string][]firingAlert{}
	for _, g := range r.groups {
		for _, rs := range g.Status().Rules {
			if !rs.Alerting || !names[rs.Name] {
				continue
			}
			for _, a := range rs.Alerts {
				if a.State == evaluator.StateFiring {
					got[rs.Name] = append(got[rs.Name], firingAlert{Labels: a.Labels, Annotations: a.Annotations})
				}
			}
		}
	}
	for _, at := range tests {
		exp := make([]firingAlert, 0, len(at.ExpAlerts))
		for _, ea := range at.ExpAlerts {
			lm := maps.Clone(ea.ExpLabels)
			if lm == nil {
				lm = map[string]string{}
			}
			// Alerts carry their rule's name; the test does not repeat it.
			lm[labels.AlertName] = at.Alertname
			exp = append(exp, firingAlert{Labels: labels.FromMap(lm), Annotations: labels.FromMap(ea.ExpAnnotations)})
		}
		if equalAlerts(exp, got[at.Alertname]) {
			continue
		}
		r.fail("    alertname: %s, time: %s,\n        exp %s, got %d (- expected, + got):\n%s",
			at.Alertname, at.EvalTime, count(len(exp), "firing alert"), len(got[at.Alertname]),
			diffAlerts(exp, got[at.Alertname], "        "))
	}
}

// checkExpressions runs the promql_expr_test queries over the data loaded
// during the evaluation and compares their results.
func (r *testRun) checkExpressions(ctx context.Context) {
	for _, pt := range r.tg.PromqlExprTests {
		head := fmt.Sprintf("    expr: %q, time: %s", pt.Expr, pt.EvalTime)
		vec, err := r.store.Query(ctx, pt.Expr, r.start.Add(time.Duration(pt.EvalTime)))
		if err != nil {
			r.fail("%s, err: %s", head, err)
			continue
		}
		got := make([]sample, 0, len(vec))
		for _, s := range vec {
			got = append(got, sample{Labels: s.Metric, Value: s.F, Histogram: histogramText(s.H)})
		}
		exp, err := r.expectedSamples(pt)
		if err != nil {
			r.fail("%s, err: %s", head, err)
			continue
		}
		if equalSamples(exp, got, r.fuzzy) {
			continue
		}
		diff := diffSamples(exp, got, r.fuzzy, "        ")
		r.fail("%s,\n        exp %s, got %d (- expected, + got):\n%s", head, count(len(exp), "sample"), len(got), diff)
	}
}

// expectedSamples parses the expected samples of a query test.
func (r *testRun) expectedSamples(pt promqlTestCase) ([]sample, error) {
	out := make([]sample, 0, len(pt.ExpSamples))
	for _, es := range pt.ExpSamples {
		lbls, err := r.parser.ParseMetric(es.Labels)
		if err == nil && es.Histogram != "" {
			var h *histogram.FloatHistogram
			h, err = r.parseHistogram(es.Histogram)
			es.Histogram = histogramText(h)
		}
		if err != nil {
			return nil, fmt.Errorf("labels %q: %w", es.Labels, err)
		}
		out = append(out, sample{Labels: lbls, Value: es.Value, Histogram: es.Histogram})
	}
	return out, nil
}

// parseHistogram reads one native histogram in series notation.
func (r *testRun) parseHistogram(text string) (*histogram.FloatHistogram, error) {
	_, vals, err := r.parser.ParseSeriesDesc("{} " + text)
	switch {
	case err != nil:
		return nil, err
	case len(vals) != 1:
		return nil, fmt.Errorf("expected 1 value, got %d", len(vals))
	case vals[0].Histogram == nil:
		return nil, fmt.Errorf("expected histogram, got %v", vals[0])
	}
	return vals[0].Histogram, nil
}

// histogramText writes a native histogram in series notation, "" for nil.
func histogramText(h *histogram.FloatHistogram) string {
	if h == nil {
		return ""
	}
	return h.TestExpression()
}

func errorStrings(errs []error) []string {
	out := make([]string, 0, len(errs))
	for _, err := range errs {
		out = append(out, err.Error())
	}
	return out
}
