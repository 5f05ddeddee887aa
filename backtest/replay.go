package backtest

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/robfig/cron/v3"

	"github.com/alerter/alerter/datasource/promapi"
	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/rules"
)

// maxRangePoints is Prometheus' limit on the steps of one range query.
const maxRangePoints = promapi.MaxRangePoints

// replay evaluates the selected alerting rules at their evaluation times,
// in time order across rules, and hands what each evaluation sends on to
// the simulator.
type replay struct {
	opts Options
	runs []*ruleRun
	sim  *simulator
	// cur is the rule being evaluated: the sink attributes what its group
	// hands on to it. Groups are evaluated one at a time.
	cur *ruleRun
	now time.Time
}

// ruleRun is one alerting rule being replayed, alone in a group of its own
// (with its group's settings), so that the alerts the group hands on are
// known to be the rule's.
type ruleRun struct {
	idx         int
	file, group string
	rule        rules.Rule
	g           *evaluator.Group
	ds          evaluator.Datasource
	rq          RangeQuerier // nil: one instant query per evaluation
	step        time.Duration
	sched       cron.Schedule // set instead of step for a cron group
	offset      time.Duration // the group's query_offset
	next        time.Time     // the next evaluation time; zero when done

	// The answer of the range query covering the evaluations up to
	// chunkEnd: table, or the error that every evaluation in it gets.
	table    *stepTable
	chunkErr error
	chunkEnd time.Time

	evals, failed, rangeQueries, instantQueries int
	firstErr                                    string
	alerts                                      map[string]*alertTrack
}

// alertTrack is one label set of a rule: the intervals it fired in.
type alertTrack struct {
	labels    labels.Labels
	intervals []Interval
	open      bool
}

// newReplay selects the rules, builds a one-rule group for each and plans
// its evaluation times.
func newReplay(opts Options, sim *simulator) (*replay, error) {
	rp := &replay{opts: opts, sim: sim}
	file := &rules.File{Path: "backtest"}
	cfg := opts.Rules
	cfg.Files, cfg.Datasources, cfg.Concurrency = []*rules.File{file}, map[string]evaluator.Datasource{}, 1
	total := 0
	for _, f := range opts.Rules.Files {
		for _, rg := range f.Groups {
			for _, r := range rg.Rules {
				if !r.IsAlerting() || (opts.Rule != "" && r.Alert != opts.Rule) {
					continue
				}
				run, g, err := rp.newRun(f.Path, rg, r)
				if err != nil {
					return nil, err
				}
				total += run.evaluations(opts)
				if total > opts.MaxEvaluations {
					return nil, fmt.Errorf("%w: more than %d rule evaluations; use a longer step, a shorter range or --rule", ErrInvalid, opts.MaxEvaluations)
				}
				cfg.Datasources[g.Datasource] = evaluator.Datasource{Name: g.Datasource, Querier: ruleQuerier{run}}
				file.Groups = append(file.Groups, g)
			}
		}
	}
	if len(rp.runs) == 0 {
		if opts.Rule != "" {
			return nil, fmt.Errorf("%w: no alerting rule named %q", ErrInvalid, opts.Rule)
		}
		return nil, fmt.Errorf("%w: the configuration has no alerting rules", ErrInvalid)
	}
	groups, err := evaluator.NewGroups(cfg, evaluator.Options{Sink: evaluator.SinkFunc(rp.send), Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for i, g := range groups {
		rp.runs[i].g = g
	}
	return rp, nil
}

// newRun returns the run of rule r of group rg in file, and the one-rule
// group to evaluate it in.
func (rp *replay) newRun(file string, rg rules.RuleGroup, r rules.Rule) (*ruleRun, rules.RuleGroup, error) {
	opts := rp.opts
	run := &ruleRun{idx: len(rp.runs), file: file, group: rg.Name, rule: r, alerts: map[string]*alertTrack{}}
	dsName := rg.Datasource
	if dsName == "" {
		dsName = opts.Rules.DefaultDatasource
	}
	ds, ok := opts.Rules.Datasources[dsName]
	if !ok {
		return nil, rg, fmt.Errorf("%w: %s: group %q: unknown datasource %q", ErrInvalid, file, rg.Name, dsName)
	}
	run.ds = ds
	run.offset = opts.Rules.DefaultQueryOffset
	if rg.QueryOffset != nil {
		run.offset = *rg.QueryOffset
	}
	g := rg
	g.Name, g.Datasource, g.Rules = "rule "+strconv.Itoa(run.idx), "rule "+strconv.Itoa(run.idx), []rules.Rule{r}
	switch {
	case opts.Step > 0:
		run.step, g.Interval, g.Schedule = opts.Step, opts.Step, ""
	case rg.Schedule != "":
		sched, err := rules.ParseSchedule(rg.Schedule)
		if err != nil {
			return nil, rg, fmt.Errorf("%w: %s: group %q: %w", ErrInvalid, file, rg.Name, err)
		}
		run.sched = sched
	default:
		run.step = cmp.Or(rg.Interval, opts.Rules.DefaultInterval)
		if run.step <= 0 || run.step%time.Millisecond != 0 {
			return nil, rg, fmt.Errorf("%w: %s: group %q: interval %s must be a positive number of milliseconds", ErrInvalid, file, rg.Name, run.step)
		}
		g.Interval = run.step
	}
	if rq, ok := ds.Querier.(RangeQuerier); ok && run.sched == nil {
		run.rq = rq
	}
	run.next = run.first(opts.From)
	if run.next.After(opts.To) {
		run.next = time.Time{}
	}
	rp.runs = append(rp.runs, run)
	return run, g, nil
}

// first returns the first evaluation time at or after from: the next
// multiple of the step, or the next run of the schedule.
func (run *ruleRun) first(from time.Time) time.Time {
	if run.sched != nil {
		return run.sched.Next(from.Add(-time.Nanosecond))
	}
	s := int64(run.step)
	f := from.UnixNano()
	t := f - f%s
	if t < f {
		t += s
	}
	return time.Unix(0, t).UTC()
}

// after returns the evaluation time after t.
func (run *ruleRun) after(t time.Time) time.Time {
	if run.sched != nil {
		return run.sched.Next(t)
	}
	return t.Add(run.step)
}

// evaluations counts the rule's evaluation times in the range, stopping
// past the limit.
func (run *ruleRun) evaluations(opts Options) int {
	if run.next.IsZero() {
		return 0
	}
	if run.sched == nil {
		return int(opts.To.Sub(run.next)/run.step) + 1
	}
	n := 0
	for t := run.next; !t.After(opts.To) && n <= opts.MaxEvaluations; t = run.after(t) {
		n++
	}
	return n
}

// run evaluates every rule at each of its times, in time order (rules due
// at the same time in configuration order), advancing the simulator up to
// each time first.
func (rp *replay) run(ctx context.Context) error {
	q := &runQueue{}
	for _, run := range rp.runs {
		if !run.next.IsZero() {
			heap.Push(q, run)
		}
	}
	for q.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		run := (*q)[0]
		t := run.next
		rp.sim.advance(t, false)
		if run.needsChunk() {
			if err := rp.fetch(ctx); err != nil {
				return err
			}
		}
		rp.cur, rp.now = run, t
		run.evals++
		run.g.Eval(ctx, t)
		rp.cur = nil
		if run.next = run.after(t); run.next.After(rp.opts.To) {
			run.next = time.Time{}
			run.table = nil
			heap.Pop(q)
		} else {
			heap.Fix(q, 0)
		}
	}
	return ctx.Err()
}

// fetch runs the range query of the next chunk of every rule that has
// gone past its chunk (all of them at the start), rp.opts.Concurrency at a
// time. A failed query is kept as the chunk's error; only the end of ctx
// stops the backtest.
func (rp *replay) fetch(ctx context.Context) error {
	sem := make(chan struct{}, rp.opts.Concurrency)
	var wg sync.WaitGroup
	for _, run := range rp.runs {
		if !run.needsChunk() {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			run.fetchChunk(ctx, rp.opts)
		})
	}
	wg.Wait()
	return ctx.Err()
}

// needsChunk reports whether the rule's next evaluation is answered by a
// range query not run yet.
func (run *ruleRun) needsChunk() bool {
	return run.rq != nil && !run.next.IsZero() && (run.chunkEnd.IsZero() || run.next.After(run.chunkEnd))
}

// fetchChunk queries the rule's expression over its evaluations from
// run.next on, up to MaxRangePoints steps.
func (run *ruleRun) fetchChunk(ctx context.Context, opts Options) {
	start := run.next
	n := int(opts.To.Sub(start) / run.step)
	n = min(n, opts.MaxRangePoints)
	end := start.Add(time.Duration(n) * run.step)
	run.chunkEnd, run.table, run.chunkErr = end, nil, nil
	run.rangeQueries++
	m, err := run.rq.QueryRange(ctx, run.rule.Expr, start.Add(-run.offset), end.Add(-run.offset), run.step)
	if err != nil {
		run.chunkErr = err
		return
	}
	run.table = newStepTable(m, start.Add(-run.offset), run.step, n+1)
}

// ruleQuerier answers a rule's queries: its expression from the range
// query's table where that covers the time, anything else (templates'
// query function, cron schedules, datasources without range queries) with
// an instant query to the datasource.
type ruleQuerier struct{ run *ruleRun }

// Query implements evaluator.Querier.
func (q ruleQuerier) Query(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
	run := q.run
	own := expr == run.rule.Expr
	if own && run.rq != nil && !run.chunkEnd.IsZero() && !ts.Add(run.offset).After(run.chunkEnd) {
		if run.chunkErr != nil {
			run.fail(run.chunkErr)
			return nil, run.chunkErr
		}
		if vec, ok := run.table.at(ts); ok {
			return vec, nil
		}
	}
	run.instantQueries++
	vec, err := run.ds.Querier.Query(ctx, expr, ts)
	if err != nil && own {
		run.fail(err)
	}
	return vec, err
}

func (run *ruleRun) fail(err error) {
	run.failed++
	if run.firstErr == "" {
		run.firstErr = err.Error()
	}
}

// send receives what the evaluated group hands on: it notes the firing
// intervals of the current rule and routes the alerts.
func (rp *replay) send(_ context.Context, alerts []evaluator.PostableAlert) {
	run, now := rp.cur, rp.now
	if run == nil {
		return
	}
	out := make([]*dispatch.Alert, len(alerts))
	for i, a := range alerts {
		run.track(a, now)
		out[i] = &dispatch.Alert{
			Labels: labelSet(a.Labels), Annotations: labelSet(a.Annotations),
			StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL,
		}
	}
	rp.sim.receive(now, out)
}

// track notes a firing alert's start and a resolved alert's end.
func (run *ruleRun) track(a evaluator.PostableAlert, now time.Time) {
	key := a.Labels.String()
	t := run.alerts[key]
	if t == nil {
		t = &alertTrack{labels: a.Labels}
		run.alerts[key] = t
	}
	firing := a.EndsAt.After(now)
	switch {
	case firing && (!t.open || !t.intervals[len(t.intervals)-1].Start.Equal(a.StartsAt)):
		if t.open { // cannot happen: a new start comes after a resolve
			t.intervals[len(t.intervals)-1].End = now
		}
		t.intervals = append(t.intervals, Interval{Start: a.StartsAt})
		t.open = true
	case !firing && t.open:
		t.intervals[len(t.intervals)-1].End = a.EndsAt
		t.open = false
	}
}

// labelSet converts labels as cmd/alerter's routing does for the
// evaluator's alerts.
func labelSet(ls labels.Labels) model.LabelSet {
	out := make(model.LabelSet, ls.Len())
	ls.Range(func(l labels.Label) { out[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return out
}

// runQueue orders runs by their next evaluation time, then by index.
type runQueue []*ruleRun

func (q runQueue) Len() int { return len(q) }
func (q runQueue) Less(i, j int) bool {
	if !q[i].next.Equal(q[j].next) {
		return q[i].next.Before(q[j].next)
	}
	return q[i].idx < q[j].idx
}
func (q runQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *runQueue) Push(x any)   { *q = append(*q, x.(*ruleRun)) }
func (q *runQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
