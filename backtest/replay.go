package backtest

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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
// the simulator. The rules due at the same time are evaluated in parallel
// (they do not depend on one another), and what they send is handed on in
// configuration order, so that the outcome does not depend on scheduling.
type replay struct {
	opts Options
	runs []*ruleRun
	sim  *simulator
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

	// now is the time of the evaluation in progress; sent collects what
	// it hands on, for the simulator.
	now  time.Time
	sent []*dispatch.Alert

	evals, failed, rangeQueries, instantQueries int
	firstErr                                    string
	alerts                                      map[uint64][]*alertTrack // by the labels' hash
}

// alertTrack is one label set of a rule: the intervals it fired in, and
// the labels converted once for the alert store (which never changes them).
type alertTrack struct {
	labels    labels.Labels
	lset      model.LabelSet
	intervals []Interval
	open      bool
}

// newReplay selects the rules, builds a one-rule group for each and plans
// its evaluation times.
func newReplay(opts Options, sim *simulator) (*replay, error) {
	rp := &replay{opts: opts, sim: sim}
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
				if err := run.build(opts, g); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(rp.runs) == 0 {
		if opts.Rule != "" {
			return nil, fmt.Errorf("%w: no alerting rule named %q", ErrInvalid, opts.Rule)
		}
		return nil, fmt.Errorf("%w: the configuration has no alerting rules", ErrInvalid)
	}
	return rp, nil
}

// build makes the rule's one-rule group g, as the evaluator builds groups,
// querying through the rule's querier and handing on to its sink.
func (run *ruleRun) build(opts Options, g rules.RuleGroup) error {
	cfg := opts.Rules
	cfg.Files = []*rules.File{{Path: run.file, Groups: []rules.RuleGroup{g}}}
	cfg.Datasources = map[string]evaluator.Datasource{g.Datasource: {Name: g.Datasource, Querier: ruleQuerier{run}}}
	cfg.Concurrency = 1
	groups, err := evaluator.NewGroups(cfg, evaluator.Options{Sink: evaluator.SinkFunc(run.send), Logger: opts.Logger})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	run.g = groups[0]
	return nil
}

// newRun returns the run of rule r of group rg in file, and the one-rule
// group to evaluate it in.
func (rp *replay) newRun(file string, rg rules.RuleGroup, r rules.Rule) (*ruleRun, rules.RuleGroup, error) {
	opts := rp.opts
	run := &ruleRun{idx: len(rp.runs), file: file, group: rg.Name, rule: r, alerts: map[uint64][]*alertTrack{}}
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
	// The group keeps its name (for the evaluator's log lines); its
	// datasource is the rule's querier, under the datasource's name.
	g.Datasource, g.Rules = dsName, []rules.Rule{r}
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

// run evaluates every rule at each of its times, in time order, advancing
// the simulator up to each time first.
func (rp *replay) run(ctx context.Context) error {
	q := &runQueue{}
	for _, run := range rp.runs {
		if !run.next.IsZero() {
			heap.Push(q, run)
		}
	}
	var due []*ruleRun
	for q.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Every rule due at t, in configuration order.
		t := (*q)[0].next
		due = due[:0]
		for q.Len() > 0 && (*q)[0].next.Equal(t) {
			due = append(due, heap.Pop(q).(*ruleRun))
		}
		rp.sim.advance(t, false)
		if slices.ContainsFunc(due, (*ruleRun).needsChunk) {
			if err := rp.fetch(ctx); err != nil {
				return err
			}
		}
		rp.evaluate(ctx, due, t)
		for _, run := range due {
			rp.sim.receive(t, run.sent)
			run.sent = nil
			if run.next = run.after(t); run.next.After(rp.opts.To) {
				run.next, run.table = time.Time{}, nil
				continue
			}
			heap.Push(q, run)
		}
	}
	return ctx.Err()
}

// evaluate evaluates the rules due at t, on up to GOMAXPROCS goroutines.
func (rp *replay) evaluate(ctx context.Context, due []*ruleRun, t time.Time) {
	eval := func(run *ruleRun) {
		run.now = t
		run.evals++
		run.g.Eval(ctx, t)
	}
	workers := min(len(due), runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for _, run := range due {
			eval(run)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(due)); i = next.Add(1) - 1 {
				eval(due[i])
			}
		})
	}
	wg.Wait()
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

// send receives what the rule's group hands on at run.now: it notes the
// firing intervals and keeps the alerts for the simulator.
func (run *ruleRun) send(_ context.Context, alerts []evaluator.PostableAlert) {
	for _, a := range alerts {
		t := run.track(a)
		run.sent = append(run.sent, &dispatch.Alert{
			Labels: t.lset, Annotations: labelSet(a.Annotations),
			StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL,
		})
	}
}

// track notes a firing alert's start and a resolved alert's end, and
// returns the alert's track.
func (run *ruleRun) track(a evaluator.PostableAlert) *alertTrack {
	t := run.trackOf(a.Labels)
	firing := a.EndsAt.After(run.now)
	switch {
	case firing && (!t.open || !t.intervals[len(t.intervals)-1].Start.Equal(a.StartsAt)):
		if t.open { // cannot happen: a new start comes after a resolve
			t.intervals[len(t.intervals)-1].End = run.now
		}
		t.intervals = append(t.intervals, Interval{Start: a.StartsAt})
		t.open = true
	case !firing && t.open:
		t.intervals[len(t.intervals)-1].End = a.EndsAt
		t.open = false
	}
	return t
}

// trackOf returns the track of the label set lbls, making it if new.
func (run *ruleRun) trackOf(lbls labels.Labels) *alertTrack {
	h := lbls.Hash()
	for _, t := range run.alerts[h] {
		if labels.Equal(t.labels, lbls) {
			return t
		}
	}
	t := &alertTrack{labels: lbls, lset: labelSet(lbls)}
	run.alerts[h] = append(run.alerts[h], t)
	return t
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
