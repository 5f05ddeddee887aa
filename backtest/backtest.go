// Package backtest replays alerting rules over a past time range and
// reports what they, and the routing after them, would have done: which
// alerts fired when, and which notifications would have gone out.
//
// It runs alerter's own code on simulated time. The rules are evaluated by
// the evaluator's groups (evaluator.NewGroups, Group.Eval at each step), so
// for, keep_firing_for, templating and the alerts handed on (firing ones
// re-sent every resend_delay with EndsAt ahead, resolved ones with EndsAt)
// are exactly the running evaluator's. Their queries are answered from one
// range query per rule (in chunks of at most promapi.MaxRangePoints steps)
// instead of an instant query per step. The alerts then go through
// dispatch's alert store, routing tree, inhibition, time intervals, silences
// and notification log decision, with aggregation groups flushed at the
// times their timers would fire (group_wait, then every group_interval).
// Nothing is sent.
//
// Ownership: Run builds everything it uses and drops it when it returns;
// it shares nothing with a running alerter except the read-only
// configuration and the datasources' query clients.
package backtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/silences"
)

// RangeQuerier runs range queries: expr at every step from start to end.
// A datasource's Querier that also implements it (promapi.Client does) is
// asked once per rule and chunk; others are asked one instant query per
// evaluation.
type RangeQuerier interface {
	QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) (promql.Matrix, error)
}

// ErrInvalid is wrapped by the errors Run returns for options that cannot
// work (a range that ends before it starts, an unknown rule, ...): the
// caller's mistake, not a failure.
var ErrInvalid = errors.New("invalid backtest")

// DefaultMaxEvaluations bounds the rule evaluations of one backtest when
// Options.MaxEvaluations is 0: 100 rules over 2 weeks at a 1-minute step.
const DefaultMaxEvaluations = 2_016_000

// Options say what to backtest.
type Options struct {
	// Rules is the rule configuration as the evaluator gets it. Only its
	// alerting rules are replayed; recording rules are not (their series,
	// where stored, are queried like any other).
	Rules evaluator.Config
	// Routing is the routing configuration; nil: alerts are not routed.
	Routing *config.Routing
	// Silences are applied each over its own [StartsAt, EndsAt) in
	// simulated time; see CurrentSilences for today's silences.
	Silences []silences.Silence
	// From and To bound the evaluations (both included).
	From, To time.Time
	// Step is the time between evaluations of every rule, aligned to
	// multiples of it; 0 evaluates each group at its own interval (aligned
	// likewise) or cron schedule.
	Step time.Duration
	// Rule, if set, selects the alerting rules of that name.
	Rule string
	// MaxEvaluations bounds the evaluations; 0 means
	// DefaultMaxEvaluations.
	MaxEvaluations int
	// Concurrency is how many range queries run at once; 0 means 4.
	Concurrency int
	// MaxRangePoints is the most steps one range query spans; 0 means
	// promapi.MaxRangePoints (Prometheus' limit).
	MaxRangePoints int
	// LogRetention bounds how long the simulated notification log keeps
	// an entry, as --data.retention does; 0 means 120h.
	LogRetention time.Duration
	Logger       *slog.Logger
}

func (o *Options) validate() error {
	var errs []error
	if o.From.IsZero() || o.To.IsZero() {
		errs = append(errs, errors.New("from and to must be set"))
	} else if o.To.Before(o.From) {
		errs = append(errs, fmt.Errorf("to (%s) is before from (%s)", o.To.Format(time.RFC3339), o.From.Format(time.RFC3339)))
	}
	if o.Step < 0 || (o.Step > 0 && o.Step%time.Millisecond != 0) {
		errs = append(errs, fmt.Errorf("step %s must be a positive number of milliseconds", o.Step))
	}
	if o.MaxEvaluations < 0 || o.Concurrency < 0 || o.MaxRangePoints < 0 || o.LogRetention < 0 {
		errs = append(errs, errors.New("limits must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	o.MaxEvaluations = cmp.Or(o.MaxEvaluations, DefaultMaxEvaluations)
	o.Concurrency = cmp.Or(o.Concurrency, 4)
	o.MaxRangePoints = cmp.Or(o.MaxRangePoints, maxRangePoints)
	o.LogRetention = cmp.Or(o.LogRetention, 120*time.Hour)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Run backtests the rules of opts over [From, To] and returns the report.
// A rule whose queries fail is reported with its error, as the evaluator
// would show it; Run itself fails only on invalid options (ErrInvalid) or
// when ctx ends.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	sim, err := newSimulator(opts)
	if err != nil {
		return nil, err
	}
	rp, err := newReplay(opts, sim)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := rp.run(ctx); err != nil {
		return nil, err
	}
	sim.advance(opts.To, true)
	rep := &Report{From: opts.From, To: opts.To, Step: opts.Step}
	rp.report(rep)
	sim.report(rep)
	opts.Logger.Debug("Backtest done", "rules", len(rep.Rules), "evaluations", rep.Evaluations,
		"range_queries", rep.RangeQueries, "duration", time.Since(start))
	return rep, nil
}

// CurrentSilences returns the silences of sils that are active at now,
// stretched over all of [from, to]: "what today's silences would have
// muted". Expired and pending ones are left out.
func CurrentSilences(sils []silences.Silence, now, from, to time.Time) []silences.Silence {
	var out []silences.Silence
	for _, s := range sils {
		if s.State(now) != silences.StateActive {
			continue
		}
		s.StartsAt, s.EndsAt = from, to.Add(time.Nanosecond)
		out = append(out, s)
	}
	return out
}
