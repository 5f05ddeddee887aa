// Package evaluator evaluates rule groups on their schedules against
// datasources, keeps each alert's state exactly as Prometheus does, persists
// it, and hands the alerts to send on to a Sink.
//
// Ownership: a Manager owns the running Groups; a Group owns its rules and
// is the only writer of their state (rules lock only to serve readers). On
// reload the Manager builds new Groups, copies state from the old ones and
// swaps them in; groups whose definition did not change keep running.
package evaluator

import (
	"context"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// Querier runs an instant query at ts. A scalar result comes back as one
// sample without labels; any other result type is an error.
type Querier interface {
	Query(ctx context.Context, expr string, ts time.Time) (promql.Vector, error)
}

// QuerierFunc adapts a function to Querier.
type QuerierFunc func(ctx context.Context, expr string, ts time.Time) (promql.Vector, error)

// Query calls f.
func (f QuerierFunc) Query(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
	return f(ctx, expr, ts)
}

// Appender stores samples produced by rules: recording-rule results and the
// ALERTS and ALERTS_FOR_STATE series. A sample whose value is Prometheus'
// stale marker marks its series stale.
type Appender interface {
	Append(ctx context.Context, samples []promql.Sample) error
}

// Datasource is what a group is evaluated against.
type Datasource struct {
	Name    string
	Querier Querier
	// Appender is nil for read-only datasources; recording rules of groups on
	// such a datasource are listed but not evaluated.
	Appender Appender
	// Version changes when the datasource's settings change, so that
	// groups using it are restarted on reload.
	Version string
	// SourceLink returns the generatorURL of the alerts of a rule (name,
	// group, expression), given alerter's external URL; nil or an error:
	// none.
	SourceLink func(rule, group, expr, externalURL string) (string, error)
}

// PostableAlert is an alert handed on for notification, with the fields and
// timing Prometheus sends to Alertmanager: firing alerts are re-sent with
// EndsAt ahead (their ValidUntil), resolved ones with EndsAt at the
// resolution time.
type PostableAlert struct {
	Labels       labels.Labels
	Annotations  labels.Labels
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
}

// Sink receives the alerts to send on. Send must not block for long: it is
// called from the evaluation loop of each group.
type Sink interface {
	Send(ctx context.Context, alerts []PostableAlert)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, alerts []PostableAlert)

// Send calls f.
func (f SinkFunc) Send(ctx context.Context, alerts []PostableAlert) { f(ctx, alerts) }

// RuleAlerts is the persisted alert state of one alerting rule.
type RuleAlerts struct {
	// RuleKey identifies the rule inside its group: its name and labels, as
	// Prometheus matches rules across reloads, plus an occurrence number
	// for duplicates.
	RuleKey string
	Alerts  []Alert
}

// StateChanges are what changed of a group's alerts since the last write.
type StateChanges struct {
	// Upsert are the alerts that are new or changed, by rule.
	Upsert []RuleAlerts
	// Delete are the alerts that are gone.
	Delete []AlertRef
}

// AlertRef names one saved alert: its rule's key and its labels.
type AlertRef struct {
	RuleKey string
	Labels  labels.Labels
}

// Ownership says which rule groups this process evaluates when replicas
// share the work (each group is evaluated by one of them at a time).
type Ownership interface {
	// Owns reports whether this process may evaluate the group of key
	// now, and the term of its ownership: a term it has not seen means
	// that it took the group over, and reads the states the previous
	// owner left from the store.
	Owns(key string) (ok bool, term uint64)
}

// GroupStateLoader is a StateStore that reads one group's states, as a
// replica taking a group over does.
type GroupStateLoader interface {
	LoadGroupAlertStates(ctx context.Context, groupKey string) ([]RuleAlerts, error)
}

// StateStore persists alert states so that they survive restarts.
type StateStore interface {
	// LoadAlertStates returns every saved group's states, by group key.
	LoadAlertStates(ctx context.Context) (map[string][]RuleAlerts, error)
	// SaveAlertStates writes the changed alerts of a group and deletes
	// those gone, in one durable transaction.
	SaveAlertStates(ctx context.Context, groupKey string, changes StateChanges) error
	// DeleteAlertStates forgets a group that no longer exists.
	DeleteAlertStates(ctx context.Context, groupKey string) error
}
