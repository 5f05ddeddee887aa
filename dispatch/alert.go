// Package dispatch routes alerts as Alertmanager does: it keeps the alerts
// received from the evaluator and from other senders, sorts them through the
// routing tree into aggregation groups, and on each flush passes them through
// inhibition, silences, time intervals and the notification log to the
// receivers' integrations.
package dispatch

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// Alert is one alert as received. Alerts are immutable once stored: an
// update replaces the pointer, so readers never need a lock to look at one.
type Alert struct {
	Labels       model.LabelSet
	Annotations  model.LabelSet
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
	// UpdatedAt is when alerter last received the alert.
	UpdatedAt time.Time
	// Timeout is set when the sender gave no EndsAt and alerter set it to
	// UpdatedAt plus resolve_timeout.
	Timeout bool

	fp model.Fingerprint
}

// Fingerprint identifies the alert by its labels.
func (a *Alert) Fingerprint() model.Fingerprint { return a.fp }

// ResolvedAt reports whether the alert has ended by now.
func (a *Alert) ResolvedAt(now time.Time) bool {
	return !a.EndsAt.IsZero() && !a.EndsAt.After(now)
}

// Validate checks what Alertmanager's API checks: labels present and valid,
// annotations valid, an end not before the start.
func (a *Alert) Validate() error {
	if len(a.Labels) == 0 {
		return errors.New("at least one label pair required")
	}
	if err := validateLabelSet(a.Labels); err != nil {
		return fmt.Errorf("invalid label set: %w", err)
	}
	if err := validateLabelSet(a.Annotations); err != nil {
		return fmt.Errorf("invalid annotations: %w", err)
	}
	if !a.StartsAt.IsZero() && !a.EndsAt.IsZero() && a.EndsAt.Before(a.StartsAt) {
		return errors.New("start time must be before end time")
	}
	return nil
}

func validateLabelSet(ls model.LabelSet) error {
	for ln, lv := range ls {
		if !model.UTF8Validation.IsValidLabelName(string(ln)) {
			return fmt.Errorf("invalid name %q", ln)
		}
		if !lv.IsValid() {
			return fmt.Errorf("invalid value %q of %q", lv, ln)
		}
	}
	return nil
}

// prepare fills in what Alertmanager fills in for a received alert: the
// start when missing, the end from resolve_timeout when missing, the
// receive time and the fingerprint.
func (a *Alert) prepare(now time.Time, resolveTimeout time.Duration) {
	a.UpdatedAt = now
	if a.StartsAt.IsZero() {
		if a.EndsAt.IsZero() {
			a.StartsAt = now
		} else {
			a.StartsAt = a.EndsAt
		}
	}
	if a.EndsAt.IsZero() {
		a.Timeout = true
		a.EndsAt = now.Add(resolveTimeout)
	}
	a.fp = a.Labels.Fingerprint()
}

// merge combines a stored alert old with a newly received alert a of the
// same labels, as Alertmanager does: if their active ranges overlap, the
// earliest start wins, and an explicit end wins over a timeout end.
func merge(old, a *Alert) *Alert {
	overlap := (a.EndsAt.After(old.StartsAt) && a.EndsAt.Before(old.EndsAt)) ||
		(a.StartsAt.After(old.StartsAt) && a.StartsAt.Before(old.EndsAt))
	if !overlap {
		return a
	}
	older, younger := old, a
	if younger.UpdatedAt.Before(older.UpdatedAt) {
		older, younger = younger, older
	}
	res := *younger
	if older.StartsAt.Before(younger.StartsAt) {
		res.StartsAt = older.StartsAt
	}
	now := res.UpdatedAt
	if younger.ResolvedAt(now) {
		if older.ResolvedAt(now) && older.EndsAt.After(younger.EndsAt) {
			res.EndsAt = older.EndsAt
		}
	} else if older.EndsAt.After(younger.EndsAt) && !older.Timeout {
		res.EndsAt = older.EndsAt
	}
	return &res
}
