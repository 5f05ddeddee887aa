package evaluator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/template"
)

// resolvedRetention is how long a resolved alert is kept, and re-sent, so
// that a lost resolve notification is made good (as in Prometheus).
const resolvedRetention = 15 * time.Minute

// Names of the series an alerting rule writes where its datasource can store them.
const (
	alertsMetric         = "ALERTS"
	alertsForStateMetric = "ALERTS_FOR_STATE"
	alertStateLabel      = "alertstate"
)

// errDuplicateAlertLabelSet is Prometheus' error for two result samples
// that become one alert once the rule's labels are applied.
var errDuplicateAlertLabelSet = errors.New("vector contains metrics with the same labelset after applying alert labels")

// templateDefs are the variables Prometheus defines ahead of every label and
// annotation template.
const templateDefs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"

// evalEnv is what one evaluation of a rule needs from its group.
type evalEnv struct {
	querier     Querier
	queryOffset time.Duration
	limit       int
	// externalLabels and externalURL are given to templates.
	externalLabels map[string]string
	externalURL    *url.URL
	// writeSeries asks rules for the samples to store (ALERTS, recordings).
	writeSeries bool
	logger      *slog.Logger
	// group names the rules' group, and onTransition, if set, is told of
	// each alert whose state an evaluation changed.
	group        string
	onTransition func(Transition)
	extLabels    labels.Labels
}

// Transition is a change of an alert's state made by an evaluation, for
// Options.OnTransition.
type Transition struct {
	At time.Time
	// Rule is the group and the rule's name, "group/Name".
	Rule string
	// Labels are the alert's, with the external labels, as sent.
	Labels   labels.Labels
	From, To AlertState
	Value    float64
}

// changed tells env.onTransition of a change of a's state from from.
func (env *evalEnv) changed(r *AlertingRule, a *Alert, from AlertState, ts time.Time) {
	if env.onTransition == nil || a.State == from {
		return
	}
	env.onTransition(Transition{
		At: ts, Rule: env.group + "/" + r.name, Labels: withExternalLabels(a.Labels, env.extLabels), From: from, To: a.State, Value: a.Value,
	})
}

// AlertingRule turns the result of an expression into alerts and keeps
// their states from one evaluation to the next.
type AlertingRule struct {
	name          string
	expr          string
	holdDuration  time.Duration
	keepFiringFor time.Duration
	labels        labels.Labels
	annotations   labels.Labels
	// hasTemplates is false when no label or annotation holds "{{", so that
	// no template is built at all.
	hasTemplates bool
	// memoize is set when the templates are pure functions of the sample
	// (they do not query): then a series whose value did not change keeps
	// its last expansion, from memo, instead of being expanded again.
	// Expanding is the costliest part of evaluating a firing rule. Only
	// the goroutine evaluating the rule uses memo.
	memoize bool
	memo    map[uint64]expansion

	status ruleStatus

	mu sync.Mutex
	// active holds the pending and firing alerts, and resolved ones for
	// resolvedRetention, by the hash of their labels.
	active map[uint64]*Alert
}

// NewAlertingRule returns an alerting rule. labels and annotations are the
// rule's own (group labels already merged in).
func NewAlertingRule(name, expr string, hold, keepFiringFor time.Duration, lbls, annotations labels.Labels) *AlertingRule {
	r := &AlertingRule{
		name: name, expr: expr, holdDuration: hold, keepFiringFor: keepFiringFor,
		labels: lbls, annotations: annotations,
		active: map[uint64]*Alert{},
	}
	queries := false
	for _, set := range []labels.Labels{lbls, annotations} {
		set.Range(func(l labels.Label) {
			r.hasTemplates = r.hasTemplates || strings.Contains(l.Value, "{{")
			queries = queries || strings.Contains(l.Value, "query")
		})
	}
	r.memoize = r.hasTemplates && !queries
	return r
}

// Name returns the alert name.
func (r *AlertingRule) Name() string { return r.name }

// eval evaluates the rule at ts and updates its alerts, as Prometheus'
// AlertingRule.Eval does. It returns the ALERTS and ALERTS_FOR_STATE
// samples to store when env.writeSeries is set, and the size of the
// expression's result.
//
// On a query error the alerts are left exactly as they were.
func (r *AlertingRule) eval(ctx context.Context, ts time.Time, env *evalEnv) (promql.Vector, int, error) {
	res, err := env.querier.Query(ctx, r.expr, ts.Add(-env.queryOffset))
	if err != nil {
		return nil, 0, err
	}
	alerts, err := r.alertsFrom(ctx, res, ts, env)
	if err != nil {
		return nil, len(res), err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for h, a := range alerts {
		// An alert that is already pending or firing keeps its state and
		// times; only its value and annotations are refreshed.
		if old, ok := r.active[h]; ok && old.State != StateInactive {
			old.Value = a.Value
			old.Annotations = a.Annotations
			continue
		}
		r.active[h] = a
	}

	var vec promql.Vector
	numActive := 0
	for h, a := range r.active {
		from := a.State
		if from == StatePending && a.ActiveAt.Equal(ts) {
			from = StateInactive // made by this evaluation
		}
		if _, ok := alerts[h]; !ok {
			stillActive := r.gone(h, a, ts)
			env.changed(r, a, from, ts)
			if !stillActive {
				continue
			}
		} else {
			a.KeepFiringSince = time.Time{}
		}
		numActive++
		if a.State == StatePending && ts.Sub(a.ActiveAt) >= r.holdDuration {
			a.State = StateFiring
			a.FiredAt = ts
		}
		env.changed(r, a, from, ts)
		// A firing alert stays firing when a reload makes `for` longer,
		// as in Prometheus: demoting it would resolve it downstream and
		// fire it again later.
		if env.writeSeries {
			at := ts.Add(-env.queryOffset)
			vec = append(vec, r.sample(a, at, alertsMetric, 1, true), r.sample(a, at, alertsForStateMetric, float64(a.ActiveAt.Unix()), false))
		}
	}
	if env.limit > 0 && numActive > env.limit {
		r.active = map[uint64]*Alert{}
		return nil, len(res), fmt.Errorf("exceeded limit of %d with %d alerts", env.limit, numActive)
	}
	return vec, len(res), nil
}

// gone handles an alert whose label set is no longer in the result. It
// reports whether the alert is still active (held by keep_firing_for).
func (r *AlertingRule) gone(h uint64, a *Alert, ts time.Time) (stillActive bool) {
	keepFiring := false
	if a.State == StateFiring && r.keepFiringFor > 0 {
		if a.KeepFiringSince.IsZero() {
			a.KeepFiringSince = ts
		}
		keepFiring = ts.Sub(a.KeepFiringSince) < r.keepFiringFor
	}
	// Pending alerts go at once; resolved ones after the retention.
	if a.State == StatePending || (!a.ResolvedAt.IsZero() && ts.Sub(a.ResolvedAt) > resolvedRetention) {
		delete(r.active, h)
	}
	if a.State != StateInactive && !keepFiring {
		a.State = StateInactive
		a.ResolvedAt = ts
	}
	return keepFiring
}

// alertsFrom builds one pending alert per result sample, with the rule's
// labels and annotations expanded for it.
func (r *AlertingRule) alertsFrom(ctx context.Context, res promql.Vector, ts time.Time, env *evalEnv) (map[uint64]*Alert, error) {
	alerts := make(map[uint64]*Alert, len(res))
	var memo map[uint64]expansion
	if r.memoize {
		memo = make(map[uint64]expansion, len(res))
	}
	x := expander{lb: labels.NewBuilder(labels.EmptyLabels()), sb: labels.NewScratchBuilder(r.annotations.Len())}
	for _, smpl := range res {
		var (
			e     expansion
			found bool
			key   uint64
			bits  = math.Float64bits(smpl.F)
		)
		if r.memoize {
			key = smpl.Metric.Hash()
			e, found = r.memo[key]
		}
		if !found || e.valueBits != bits {
			e = r.expandSample(ctx, &x, smpl, ts, env)
			e.valueBits = bits
		}
		if r.memoize {
			memo[key] = e
		}
		h := e.labels.Hash()
		if _, dup := alerts[h]; dup {
			return nil, errDuplicateAlertLabelSet
		}
		alerts[h] = &Alert{
			Labels:      e.labels,
			Annotations: e.annotations,
			ActiveAt:    ts,
			State:       StatePending,
			Value:       smpl.F,
		}
	}
	if r.memoize {
		r.memo = memo
	}
	return alerts, nil
}

// expansion is the outcome of expanding a rule's labels and annotations for
// one result sample.
type expansion struct {
	valueBits           uint64
	labels, annotations labels.Labels
}

// expander holds the builders reused across the samples of an evaluation.
type expander struct {
	lb *labels.Builder
	sb labels.ScratchBuilder
}

// expandSample returns the alert labels (the sample's, without __name__,
// plus the rule's, expanded) and the expanded annotations for smpl.
func (r *AlertingRule) expandSample(ctx context.Context, x *expander, smpl promql.Sample, ts time.Time, env *evalEnv) expansion {
	var data any
	if r.hasTemplates {
		data = template.AlertTemplateData(smpl.Metric.Map(), env.externalLabels, urlString(env.externalURL), smpl)
	}
	expand := func(text string) string { return r.expand(ctx, text, data, ts, env) }
	x.lb.Reset(smpl.Metric)
	x.lb.Del(model.MetricNameLabel)
	r.labels.Range(func(l labels.Label) { x.lb.Set(l.Name, expand(l.Value)) })
	x.lb.Set(labels.AlertName, r.name)
	x.sb.Reset()
	r.annotations.Range(func(a labels.Label) { x.sb.Add(a.Name, expand(a.Value)) })
	return expansion{labels: x.lb.Labels(), annotations: x.sb.Labels()}
}

// expand expands one label or annotation template as Prometheus does; a
// failure becomes the value, and is logged.
func (r *AlertingRule) expand(ctx context.Context, text string, data any, ts time.Time, env *evalEnv) string {
	if !strings.Contains(text, "{{") {
		return text
	}
	tmpl := template.NewTemplateExpander(ctx, templateDefs+text, "__alert_"+r.name, data,
		model.Time(ts.UnixMilli()), template.QueryFunc(env.querier.Query), env.externalURL, nil)
	out, err := tmpl.Expand()
	if err != nil {
		out = fmt.Sprintf("<error expanding template: %s>", err)
		env.logger.Warn("Expanding alert template failed", "alert", r.name, "err", err)
	}
	return out
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// sample returns an ALERTS (withState) or ALERTS_FOR_STATE sample for a.
func (r *AlertingRule) sample(a *Alert, ts time.Time, metric string, v float64, withState bool) promql.Sample {
	lb := labels.NewBuilder(r.labels)
	a.Labels.Range(func(l labels.Label) { lb.Set(l.Name, l.Value) })
	lb.Set(model.MetricNameLabel, metric)
	lb.Set(labels.AlertName, r.name)
	if withState {
		lb.Set(alertStateLabel, a.State.String())
	}
	return promql.Sample{Metric: lb.Labels(), T: ts.UnixMilli(), F: v}
}

// toSend marks the alerts due at ts as sent and returns them as they are
// handed on: a firing alert's EndsAt is validUntil (Group.validUntil: four
// scheduled evaluations ahead, so that three lost evaluations do not
// resolve it), a resolved one's the time it resolved.
func (r *AlertingRule) toSend(ts time.Time, resendDelay time.Duration, validUntil time.Time, generatorURL string, ext labels.Labels) []PostableAlert {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []PostableAlert
	for _, a := range r.active {
		if !a.needsSending(ts, resendDelay) {
			continue
		}
		a.LastSentAt = ts
		a.ValidUntil = validUntil
		out = append(out, a.postable(generatorURL, ext))
	}
	return out
}

// restoredToSend marks as sent at now, and returns, the restored alerts to
// hand on at start-up: the firing ones, valid until validUntil, and the
// resolved ones whose resolve was not handed on before the restart.
func (r *AlertingRule) restoredToSend(now, validUntil time.Time, generatorURL string, ext labels.Labels) []PostableAlert {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []PostableAlert
	for _, a := range r.active {
		switch {
		case a.State == StateFiring:
			a.ValidUntil = validUntil
		case a.State == StateInactive && a.ResolvedAt.After(a.LastSentAt):
		default:
			continue
		}
		a.LastSentAt = now
		out = append(out, a.postable(generatorURL, ext))
	}
	return out
}

// postable returns the alert as it is handed on.
func (a *Alert) postable(generatorURL string, ext labels.Labels) PostableAlert {
	pa := PostableAlert{
		Labels:       withExternalLabels(a.Labels, ext),
		Annotations:  a.Annotations,
		StartsAt:     a.FiredAt,
		EndsAt:       a.ValidUntil,
		GeneratorURL: generatorURL,
	}
	if !a.ResolvedAt.IsZero() {
		pa.EndsAt = a.ResolvedAt
	}
	return pa
}

// withExternalLabels adds the external labels an alert does not have, as
// Prometheus' notifier does.
func withExternalLabels(lset, ext labels.Labels) labels.Labels {
	if ext.IsEmpty() {
		return lset
	}
	lb := labels.NewBuilder(lset)
	ext.Range(func(l labels.Label) {
		if lset.Get(l.Name) == "" {
			lb.Set(l.Name, l.Value)
		}
	})
	return lb.Labels()
}

// Alerts returns copies of the rule's alerts, resolved ones included.
func (r *AlertingRule) Alerts() []Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Alert, 0, len(r.active))
	for _, a := range r.active {
		out = append(out, *a)
	}
	return out
}

// restore replaces the rule's alerts (state loaded from the store or copied
// from the rule's previous version).
func (r *AlertingRule) restore(alerts []Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active = make(map[uint64]*Alert, len(alerts))
	for i := range alerts {
		a := alerts[i]
		r.active[a.Labels.Hash()] = &a
	}
}

// state returns the highest state of the rule's alerts.
func (r *AlertingRule) state() AlertState {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := StateInactive
	for _, a := range r.active {
		s = max(s, a.State)
	}
	return s
}
