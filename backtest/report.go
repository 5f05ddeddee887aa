package backtest

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Report is what a backtest found. Its JSON form is the API's answer.
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Step is the evaluation step; 0: each group's own interval or
	// schedule.
	Step           time.Duration `json:"-"`
	Evaluations    int           `json:"evaluations"`
	RangeQueries   int           `json:"range_queries"`
	InstantQueries int           `json:"instant_queries"`
	// Rules are the alerting rules replayed, in configuration order.
	Rules []RuleReport `json:"rules"`
	// Receivers are those of the routing configuration, by name; empty
	// without routing.
	Receivers []ReceiverReport `json:"receivers"`
}

// RuleReport is what one alerting rule did.
type RuleReport struct {
	Name          string        `json:"name"`
	File          string        `json:"file"`
	Group         string        `json:"group"`
	Expr          string        `json:"query"`
	For           time.Duration `json:"-"`
	KeepFiringFor time.Duration `json:"-"`
	// Step is the time between its evaluations; 0 for a cron schedule.
	Step              time.Duration `json:"-"`
	Evaluations       int           `json:"evaluations"`
	FailedEvaluations int           `json:"failed_evaluations"`
	RangeQueries      int           `json:"range_queries"`
	InstantQueries    int           `json:"instant_queries"`
	// Error is the first error of a failed evaluation, if any.
	Error string `json:"error,omitempty"`
	// Alerts are the label sets (as handed on: external labels added)
	// that fired, sorted.
	Alerts []AlertReport `json:"alerts"`
}

// AlertReport is one label set of a rule and when it fired.
type AlertReport struct {
	Labels labels.Labels `json:"labels"`
	Firing []Interval    `json:"firing"`
}

// Interval is a time an alert fired: from the evaluation at which it
// became firing (StartsAt) to the one at which it resolved (EndsAt),
// excluded. End is zero for an alert still firing at the end of the range.
type Interval struct {
	Start time.Time
	End   time.Time
}

// MarshalJSON writes {"start", "end" (null if still firing), "duration"}.
func (i Interval) MarshalJSON() ([]byte, error) {
	var end *time.Time
	if !i.End.IsZero() {
		end = &i.End
	}
	return json.Marshal(struct {
		Start    time.Time  `json:"start"`
		End      *time.Time `json:"end"`
		Duration string     `json:"duration,omitempty"`
	}{i.Start, end, durationString(i.End.Sub(i.Start), !i.End.IsZero())})
}

// ReceiverReport is what one receiver would have got.
type ReceiverReport struct {
	Name string `json:"name"`
	// Notifications are those its integrations would have sent, in time
	// order.
	Notifications []Notification `json:"notifications"`
	// Suppressed are the spans of flushes whose firing alerts were all
	// muted.
	Suppressed []Suppression `json:"suppressed"`
}

// Notification is one notification an integration would have sent.
type Notification struct {
	Time     time.Time `json:"time"`
	Receiver string    `json:"receiver"`
	// Integration is the kind and index, "webhook/0".
	Integration string         `json:"integration"`
	GroupKey    string         `json:"group_key"`
	GroupLabels model.LabelSet `json:"group_labels"`
	Firing      int            `json:"firing"`
	Resolved    int            `json:"resolved"`
	// Muted counts the group's alerts left out because they were silenced
	// or inhibited.
	Muted int `json:"muted,omitempty"`
	// Reason is why it is due, as Alertmanager names it ("first
	// notification", "new alerts added", "repeat interval elapsed", ...).
	Reason string          `json:"reason"`
	Alerts []NotifiedAlert `json:"alerts"`
}

// NotifiedAlert is an alert in a notification.
type NotifiedAlert struct {
	Labels   model.LabelSet `json:"labels"`
	Status   string         `json:"status"`
	StartsAt time.Time      `json:"starts_at"`
}

// Suppression is a run of consecutive flushes of one group in which every
// firing alert was muted, for the same reason.
type Suppression struct {
	From     time.Time `json:"from"`
	Until    time.Time `json:"until"`
	Flushes  int       `json:"flushes"`
	GroupKey string    `json:"group_key"`
	// Reason is "silenced", "inhibited", "silenced and inhibited" or
	// "time interval".
	Reason string `json:"reason"`
	// Alerts is the most firing alerts muted at one flush.
	Alerts int `json:"alerts"`
}

// MarshalJSON adds the durations, as Prometheus writes them ("30m").
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		plain
		Step string `json:"step,omitempty"`
	}{plain(r), durationString(r.Step, r.Step > 0)})
}

// MarshalJSON adds the durations, as Prometheus writes them ("30m").
func (r RuleReport) MarshalJSON() ([]byte, error) {
	type plain RuleReport
	return json.Marshal(struct {
		plain
		For           string `json:"for,omitempty"`
		KeepFiringFor string `json:"keep_firing_for,omitempty"`
		Step          string `json:"step,omitempty"`
	}{plain(r), durationString(r.For, r.For > 0), durationString(r.KeepFiringFor, r.KeepFiringFor > 0), durationString(r.Step, r.Step > 0)})
}

// durationString formats d as Prometheus does, or "" if not ok.
func durationString(d time.Duration, ok bool) string {
	if !ok {
		return ""
	}
	return model.Duration(d).String()
}

// report adds the rules' outcomes to rep.
func (rp *replay) report(rep *Report) {
	rep.Rules = make([]RuleReport, 0, len(rp.runs))
	for _, run := range rp.runs {
		rr := RuleReport{
			Name: run.rule.Alert, File: run.file, Group: run.group, Expr: run.rule.Expr,
			For: run.rule.For, KeepFiringFor: run.rule.KeepFiringFor, Step: run.step,
			Evaluations: run.evals, FailedEvaluations: run.failed, RangeQueries: run.rangeQueries,
			InstantQueries: run.instantQueries, Error: run.firstErr, Alerts: []AlertReport{},
		}
		if rr.Error == "" && run.g != nil {
			// Errors other than failed queries (a limit exceeded, ...)
			// show in the rule's status when the last evaluation had one.
			if st := run.g.Status(); len(st.Rules) == 1 {
				rr.Error = st.Rules[0].LastError
			}
		}
		for _, ts := range run.alerts {
			for _, t := range ts {
				if len(t.intervals) > 0 {
					rr.Alerts = append(rr.Alerts, AlertReport{Labels: t.labels, Firing: t.intervals})
				}
			}
		}
		slices.SortFunc(rr.Alerts, func(a, b AlertReport) int { return labels.Compare(a.Labels, b.Labels) })
		rep.Rules = append(rep.Rules, rr)
		rep.Evaluations += rr.Evaluations
		rep.RangeQueries += rr.RangeQueries
		rep.InstantQueries += rr.InstantQueries
	}
}
