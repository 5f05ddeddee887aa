package evaluator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/robfig/cron/v3"
)

// rule is what a group needs of its alerting and recording rules.
type rule interface {
	Name() string
	// eval evaluates the rule at ts; it returns the samples to store,
	// and the size of its expression's result.
	eval(ctx context.Context, ts time.Time, env *evalEnv) (promql.Vector, int, error)
	statusRef() *ruleStatus
}

func (r *AlertingRule) statusRef() *ruleStatus  { return &r.status }
func (r *RecordingRule) statusRef() *ruleStatus { return &r.status }

// shared is what every group of one configuration shares: where alerts go,
// where state is kept, and the settings that apply to all groups.
type shared struct {
	sink           Sink
	store          StateStore
	metrics        *Metrics
	logger         *slog.Logger
	externalLabels labels.Labels
	extLabelsMap   map[string]string
	externalURL    *url.URL
	resendDelay    time.Duration
	concurrency    int
	ownership      Ownership
	onTransition   func(Transition)
}

// Group is a list of rules evaluated together on one schedule, in one
// goroutine.
type Group struct {
	key, file, name string
	// interval is the time between evaluations; for a cron schedule, the
	// time between its next two runs when the group was built.
	interval    time.Duration
	schedule    cron.Schedule // nil: evaluate every interval
	scheduleStr string
	queryOffset time.Duration
	limit       int
	ds          Datasource
	rules       []rule
	ruleKeys    []string
	genURLs     []string // each alerting rule's generator URL
	sh          *shared
	definition  [32]byte // hash of everything that defines the group, to compare on reload

	sem chan struct{} // bounds the queries of one evaluation
	// deps holds, for each rule, the earlier rules whose series it may
	// read (ruleDeps): it waits for them alone. The wait holds back the
	// start of the rules after it.
	deps [][]int

	cancel     context.CancelFunc
	terminated chan struct{}

	mu           sync.Mutex
	lastEval     time.Time
	evalDuration time.Duration
	// prevSeries holds, per rule, the series written at the last evaluation,
	// to mark those that disappear as stale.
	prevSeries []map[string]labels.Labels
	// saved is what the store holds of the group's alerts (persist.go).
	// Only the group's goroutine, or Update while it is stopped, uses it.
	saved map[savedKey]savedAlert
	// term is the Ownership term the group's states were read in (0:
	// not owned). Only the group's goroutine uses it.
	term uint64
}

// Key returns the group's identity: its file and name.
func (g *Group) Key() string { return g.key }

// GroupKey returns the identity of a group, as Prometheus forms it.
func GroupKey(file, name string) string { return file + ";" + name }

// evalTimestamp returns the latest aligned evaluation time at or before
// now: multiples of the interval shifted by a per-group offset, so that
// groups do not all query at once (Prometheus' Group.EvalTimestamp).
func (g *Group) evalTimestamp(now time.Time) time.Time {
	h := labels.New(labels.Label{Name: "name", Value: g.name}, labels.Label{Name: "file", Value: g.file}).Hash()
	offset := int64(h % uint64(g.interval))
	adj := now.UnixNano() - offset
	base := adj - adj%int64(g.interval)
	return time.Unix(0, base+offset).UTC()
}

// firstEvaluation returns when the group is first evaluated after now.
func (g *Group) firstEvaluation(now time.Time) time.Time {
	if g.schedule != nil {
		return g.schedule.Next(now)
	}
	return g.evalTimestamp(now).Add(g.interval)
}

// maxCatchUp bounds the loop that skips the runs of a cron schedule that
// were missed.
const maxCatchUp = 1 << 20

// catchUp returns the latest scheduled time at or before now, starting from
// the due time next, and how many scheduled runs are skipped to get there.
func (g *Group) catchUp(next, now time.Time) (time.Time, int) {
	if g.schedule == nil {
		k := int(now.Sub(next) / g.interval)
		if k <= 0 {
			return next, 0
		}
		return next.Add(time.Duration(k) * g.interval), k
	}
	missed := 0
	for n := g.schedule.Next(next); !n.After(now) && missed < maxCatchUp; n = g.schedule.Next(n) {
		next = n
		missed++
	}
	return next, missed
}

func (g *Group) nextAfter(ts time.Time) time.Time {
	if g.schedule != nil {
		return g.schedule.Next(ts)
	}
	return ts.Add(g.interval)
}

// run evaluates the group on its schedule until ctx ends.
func (g *Group) run(ctx context.Context) {
	defer close(g.terminated)
	next := g.firstEvaluation(time.Now())
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		ts, missed := g.catchUp(next, time.Now())
		if !g.owned(ctx) {
			// Another replica evaluates the group.
			next = g.nextAfter(ts)
			timer.Reset(time.Until(next))
			continue
		}
		if missed > 0 {
			g.sh.metrics.iterationsMissed.WithLabelValues(g.key).Add(float64(missed))
			g.sh.metrics.iterations.WithLabelValues(g.key).Add(float64(missed))
		}
		g.sh.metrics.iterations.WithLabelValues(g.key).Inc()
		next = g.nextAfter(ts)
		// The evaluation may not run into the next one: what a hanging
		// query API holds up past it is a failed evaluation, and the
		// alerts are handed on (with a fresh EndsAt) all the same.
		g.eval(ctx, ts, next, time.Now)
		timer.Reset(time.Until(next))
	}
}

// validUntil returns the EndsAt of a firing alert handed on at sentAt: the
// fourth scheduled evaluation after it, and at least four resend delays
// ahead, so that three evaluations can fail or be late before the alert
// expires downstream. For a cron group these are the schedule's own next
// runs: an alert of a working-hours schedule handed on at 17:55 stays valid
// over the night, until the fourth run of the next morning.
func (g *Group) validUntil(sentAt time.Time) time.Time {
	t := sentAt
	for range 4 {
		n := g.nextAfter(t)
		if n.IsZero() { // a cron schedule with no run within five years
			break
		}
		t = n
	}
	return maxTime(t, sentAt.Add(4*g.sh.resendDelay))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Eval evaluates every rule of the group at ts, hands on the alerts that
// are due and persists the alert states that changed. Rules are evaluated
// concurrently (up to the group's concurrency), started in order; a rule
// that may read the series of an earlier rule (deps) waits until that
// rule's evaluation and write have ended, so that Prometheus' in-order
// semantics hold where they matter. With a concurrency
// of 1 every rule is evaluated in the calling goroutine, in order: no
// goroutine is started, and none has to grow a stack deep enough for the
// query engine, which is most of the cost of a cheap query.
func (g *Group) Eval(ctx context.Context, ts time.Time) {
	g.eval(ctx, ts, time.Time{}, nil)
}

// errPastNextRun is the cause of a group's evaluation stopped at its next
// scheduled time.
var errPastNextRun = errors.New("the group's evaluation reached its next scheduled time")

// eval is Eval with a deadline for the queries (zero: none) and the clock
// that tells when the alerts are handed on (nil: at ts, for evaluations in
// simulated time). Rules not evaluated by the deadline fail, keeping their
// alerts; the stop of ctx abandons the evaluation.
func (g *Group) eval(ctx context.Context, ts, deadline time.Time, now func() time.Time) {
	start := time.Now()
	qctx := ctx
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		qctx, cancel = context.WithDeadlineCause(ctx, deadline, errPastNextRun)
		defer cancel()
	}
	env := &evalEnv{
		querier:        g.ds.Querier,
		queryOffset:    g.queryOffset,
		limit:          g.limit,
		externalLabels: g.sh.extLabelsMap,
		externalURL:    g.sh.externalURL,
		writeSeries:    g.ds.Appender != nil,
		logger:         g.sh.logger,
		group:          g.name,
		onTransition:   g.sh.onTransition,
		extLabels:      g.sh.externalLabels,
	}
	var wg sync.WaitGroup
	sequential := cap(g.sem) == 1
	reached := len(g.rules)  // the rules before this index were started
	var done []chan struct{} // closed when rule i's evaluation (and write) ended
	if !sequential {
		done = make([]chan struct{}, len(g.rules))
		for i := range done {
			done[i] = make(chan struct{})
		}
	}
rules:
	for i, r := range g.rules {
		if qctx.Err() != nil {
			reached = i
			break
		}
		if _, isRecording := r.(*RecordingRule); isRecording && g.ds.Appender == nil {
			if done != nil {
				close(done[i])
			}
			continue
		}
		if sequential {
			g.evalRule(ctx, qctx, i, r, ts, env)
			continue
		}
		for _, j := range g.deps[i] {
			select {
			case <-done[j]:
			case <-qctx.Done():
				reached = i
				break rules
			}
		}
		select {
		case g.sem <- struct{}{}:
		case <-qctx.Done():
			reached = i
			break rules
		}
		wg.Add(1)
		go func() {
			defer func() { close(done[i]); <-g.sem; wg.Done() }()
			g.evalRule(ctx, qctx, i, r, ts, env)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // stopped: the next owner of this state evaluates again
	}
	g.notReached(reached, ts, deadline)
	sentAt := ts
	if now != nil {
		sentAt = now()
	}
	g.send(ctx, ts, sentAt)
	g.persist(ctx)

	dur := time.Since(start)
	g.mu.Lock()
	g.lastEval, g.evalDuration = ts, dur
	g.mu.Unlock()
	g.sh.metrics.lastDuration.WithLabelValues(g.key).Set(dur.Seconds())
	g.sh.metrics.lastEvaluation.WithLabelValues(g.key).Set(float64(ts.UnixMilli()) / 1000)
}

// evalRule evaluates one rule with the queries bounded by qctx, records the
// outcome and stores the samples it produced. The end of ctx (a stop) is
// not the rule's fault and records nothing.
func (g *Group) evalRule(ctx, qctx context.Context, i int, r rule, ts time.Time, env *evalEnv) {
	start := time.Now()
	vec, n, err := r.eval(qctx, ts, env)
	if err == nil && env.writeSeries {
		err = g.write(qctx, i, vec, ts)
	}
	if ctx.Err() != nil {
		return // cancelled by a stop: not the rule's fault
	}
	if err != nil && qctx.Err() != nil {
		err = fmt.Errorf("%w: %w", context.Cause(qctx), err)
	}
	g.record(i, r, ts, time.Since(start), n, err)
}

// notReached records a failed evaluation for each rule from index from on,
// which the evaluation at ts did not start before its deadline: their
// alerts keep their states.
func (g *Group) notReached(from int, ts, deadline time.Time) {
	if from >= len(g.rules) {
		return
	}
	err := fmt.Errorf("%w (%s) before this rule's turn: not evaluated", errPastNextRun, deadline.UTC().Format(time.RFC3339))
	for i, r := range g.rules[from:] {
		if _, isRecording := r.(*RecordingRule); isRecording && g.ds.Appender == nil {
			continue
		}
		g.record(from+i, r, ts, 0, 0, err)
	}
}

// record keeps the outcome of one rule's evaluation in its status and
// metrics, and logs a failure when it starts or changes and the recovery.
func (g *Group) record(i int, r rule, ts time.Time, dur time.Duration, samples int, err error) {
	g.sh.metrics.evaluations.WithLabelValues(g.key).Inc()
	g.sh.metrics.evalDuration.Observe(dur.Seconds())
	e := Evaluation{Time: ts, Duration: dur, Samples: samples}
	if err != nil {
		g.sh.metrics.evalFailures.WithLabelValues(g.key).Inc()
		e.Err = err.Error()
	}
	prev := r.statusRef().record(e)
	switch {
	case e.Err != "" && e.Err != prev:
		g.sh.logger.Warn("Evaluating rule failed", "group", g.key, "rule", r.Name(), "index", i, "err", e.Err)
	case e.Err == "" && prev != "":
		g.sh.logger.Info("Evaluating rule works again", "group", g.key, "rule", r.Name(), "index", i)
	}
}

// write appends a rule's samples to the datasource, and stale markers for
// the series it wrote last time and not this time.
func (g *Group) write(ctx context.Context, i int, vec promql.Vector, ts time.Time) error {
	current := make(map[string]labels.Labels, len(vec))
	for _, s := range vec {
		current[string(s.Metric.Bytes(nil))] = s.Metric
	}
	g.mu.Lock()
	prev := g.prevSeries[i]
	g.prevSeries[i] = current
	g.mu.Unlock()
	stale := math.Float64frombits(value.StaleNaN)
	at := ts.Add(-g.queryOffset).UnixMilli()
	for k, lset := range prev {
		if _, ok := current[k]; !ok {
			vec = append(vec, promql.Sample{Metric: lset, T: at, F: stale})
		}
	}
	if len(vec) == 0 {
		return nil
	}
	return g.ds.Appender.Append(ctx, vec)
}

// send hands on the alerts that are due, in one batch for the group.
// Alerts of rules whose query failed are sent too: they keep their state,
// and re-sending keeps them from expiring downstream.
func (g *Group) send(ctx context.Context, ts, sentAt time.Time) {
	var out []PostableAlert
	validUntil := g.validUntil(sentAt)
	for i, r := range g.rules {
		if ar, ok := r.(*AlertingRule); ok {
			out = append(out, ar.toSend(ts, g.sh.resendDelay, validUntil, g.genURLs[i], g.sh.externalLabels)...)
		}
	}
	if len(out) > 0 && g.sh.sink != nil {
		g.sh.metrics.alertsSent.Add(float64(len(out)))
		g.sh.sink.Send(ctx, out)
	}
}

// restoreStates gives each alerting rule the alerts saved under its key.
func (g *Group) restoreStates(states []RuleAlerts) {
	g.restoreRules(states, false)
}

// restoreRules gives the alerting rules the alerts of states; with every,
// a rule states do not name is left with none (else it keeps its own).
func (g *Group) restoreRules(states []RuleAlerts, every bool) {
	byKey := make(map[string][]Alert, len(states))
	for _, s := range states {
		byKey[s.RuleKey] = s.Alerts
	}
	for i, r := range g.rules {
		if ar, ok := r.(*AlertingRule); ok {
			if alerts, ok := byKey[g.ruleKeys[i]]; ok || every {
				ar.restore(alerts)
			}
		}
	}
	// What was loaded is what the store holds.
	g.saved = g.current()
}

// sendRestored hands on, at start-up, the restored alerts that are firing
// (with a fresh EndsAt: the alert store may hold them with one that passed
// while alerter was down) and the resolves not handed on before the
// restart, before the first evaluation and before the routing starts, so
// that inhibitions hold from the first flush. Resolves already handed on
// are not handed on again: the receivers were told (they are re-sent at
// their usual resend time while kept, as Prometheus does).
func (g *Group) sendRestored(ctx context.Context, now time.Time) {
	if g.sh.sink == nil {
		return
	}
	var out []PostableAlert
	validUntil := g.validUntil(now)
	for i, r := range g.rules {
		if ar, ok := r.(*AlertingRule); ok {
			out = append(out, ar.restoredToSend(now, validUntil, g.genURLs[i], g.sh.externalLabels)...)
		}
	}
	if len(out) > 0 {
		g.sh.metrics.alertsSent.Add(float64(len(out)))
		g.sh.sink.Send(ctx, out)
	}
}

// copyState takes over the alerts, statuses and written series of the
// rules of old that have the same key (name and labels) in g.
func (g *Group) copyState(old *Group) {
	idx := make(map[string]int, len(old.rules))
	for i, k := range old.ruleKeys {
		idx[k] = i
	}
	old.mu.Lock()
	defer old.mu.Unlock()
	g.lastEval, g.evalDuration = old.lastEval, old.evalDuration
	// The same rows: the next write changes only what differs, and
	// deletes the alerts of rules that are gone.
	g.saved = old.saved
	for i, r := range g.rules {
		j, ok := idx[g.ruleKeys[i]]
		if !ok {
			continue
		}
		r.statusRef().copyFrom(old.rules[j].statusRef())
		g.prevSeries[i] = old.prevSeries[j]
		nr, ok1 := r.(*AlertingRule)
		or, ok2 := old.rules[j].(*AlertingRule)
		if ok1 && ok2 {
			nr.restore(or.Alerts())
		}
	}
}
