package evaluator

import (
	"fmt"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// AlertState is the state of one alert instance.
type AlertState int

// The states of an alert, ordered: a rule's state is its highest alert's.
const (
	// StateUnknown is a rule's state before its first evaluation.
	StateUnknown AlertState = iota
	// StateInactive is an alert that is neither pending nor firing (a
	// resolved alert kept to be re-sent).
	StateInactive
	// StatePending is an active alert that has not yet lasted `for`.
	StatePending
	// StateFiring is an active alert that has lasted `for`, or one held by
	// keep_firing_for.
	StateFiring
)

func (s AlertState) String() string {
	switch s {
	case StateUnknown:
		return "unknown"
	case StateInactive:
		return "inactive"
	case StatePending:
		return "pending"
	case StateFiring:
		return "firing"
	}
	return fmt.Sprintf("AlertState(%d)", int(s))
}

// ParseAlertState is the inverse of AlertState.String.
func ParseAlertState(s string) (AlertState, error) {
	for st := StateUnknown; st <= StateFiring; st++ {
		if st.String() == s {
			return st, nil
		}
	}
	return StateUnknown, fmt.Errorf("unknown alert state %q", s)
}

// Alert is one instance of an alerting rule: one label set of its result.
type Alert struct {
	State       AlertState
	Labels      labels.Labels
	Annotations labels.Labels
	// Value is the expression's value at the last evaluation.
	Value float64
	// ActiveAt is when the expression first returned this label set.
	ActiveAt time.Time
	// FiredAt is when the alert became firing (Alertmanager's StartsAt).
	FiredAt time.Time
	// ResolvedAt is when a firing alert stopped firing; zero while active.
	ResolvedAt time.Time
	// LastSentAt is when the alert was last handed to the Sink.
	LastSentAt time.Time
	// ValidUntil is the EndsAt given to a firing alert at its last send.
	ValidUntil time.Time
	// KeepFiringSince is when the expression stopped returning a firing
	// alert that keep_firing_for holds.
	KeepFiringSince time.Time
}

// needsSending reports whether the alert is due to be handed on at ts:
// never while pending; at once after it resolved; otherwise once resendDelay
// has passed since the last send.
func (a *Alert) needsSending(ts time.Time, resendDelay time.Duration) bool {
	if a.State == StatePending {
		return false
	}
	if a.ResolvedAt.After(a.LastSentAt) {
		return true
	}
	return a.LastSentAt.Add(resendDelay).Before(ts)
}

// persistHash summarises what a restart needs of the alert, so that it is
// written only when that changed: its state and times, and whether its
// resolve was handed on. Value and annotations change at every evaluation,
// and when a firing alert was last handed on and until when it is valid
// change at every resend; the first evaluation after a restart refreshes
// the former, the hand-off at start-up the latter.
func (a *Alert) persistHash() uint64 {
	h := mix(uint64(a.State))
	for _, t := range [...]time.Time{a.ActiveAt, a.FiredAt, a.ResolvedAt, a.KeepFiringSince} {
		h = mix(h ^ uint64(t.UnixNano()))
	}
	if !a.ResolvedAt.IsZero() && !a.LastSentAt.Before(a.ResolvedAt) {
		h = mix(h ^ 1) // the resolve was handed on
	}
	return h
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
