// Package silences keeps the silences users make (Alertmanager semantics):
// their validation, their pending/active/expired life cycle, a durable
// store whose writes reach the Persister before they are acknowledged, and
// an index that answers "which silences mute this alert?" without scanning
// every silence.
package silences

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/pkg/labels"
)

// State is where a silence is in its life cycle at a given time.
type State string

// The states of a silence, as Alertmanager names them.
const (
	StatePending State = "pending"
	StateActive  State = "active"
	StateExpired State = "expired"
)

// Silence mutes the alerts that all its matchers match, between StartsAt
// (inclusive) and EndsAt (exclusive). The Store never modifies a Silence it
// has handed out or been given; callers must not modify the Matchers they
// get back either, since they are shared.
type Silence struct {
	ID        string
	Matchers  labels.Matchers
	StartsAt  time.Time
	EndsAt    time.Time
	UpdatedAt time.Time
	CreatedBy string
	Comment   string
	// Replaces is the silence this one replaced: an edit that changed the
	// matchers (or an active silence's start) expired that one and made
	// this one.
	Replaces string
}

// State returns the silence's state at now: expired once EndsAt is reached,
// pending before StartsAt, active in between.
func (s *Silence) State(now time.Time) State {
	switch {
	case !s.EndsAt.After(now):
		return StateExpired
	case s.StartsAt.After(now):
		return StatePending
	default:
		return StateActive
	}
}

// active reports whether the silence is active at now, the hot-path form
// of State(now) == StateActive.
func (s *Silence) active(now time.Time) bool {
	return s.EndsAt.After(now) && !s.StartsAt.After(now)
}

// ErrNotFound is returned for a silence ID the store does not hold.
var ErrNotFound = errors.New("silence not found")

// ErrExpired is wrapped by the errors returned when expiring or updating a
// silence that has already expired.
var ErrExpired = errors.New("silence already expired")

// ValidationError is a problem with a silence the caller supplied: the
// request is wrong, not the server (the HTTP API maps it to 400).
type ValidationError struct {
	Msg string
	Err error // optional cause, such as ErrExpired or a regexp error
}

func (e *ValidationError) Error() string {
	if e.Err != nil && e.Msg == "" {
		return e.Err.Error()
	}
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the cause, if any.
func (e *ValidationError) Unwrap() error { return e.Err }

func invalid(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// Validate checks everything about the silence that does not depend on the
// current time: matchers, the order of StartsAt and EndsAt, and that it
// says who made it and why. It returns a *ValidationError.
func (s *Silence) Validate() error {
	if len(s.Matchers) == 0 {
		return invalid("at least one matcher is required")
	}
	allMatchEmpty := true
	for i, m := range s.Matchers {
		if err := validateMatcher(m); err != nil {
			return &ValidationError{Msg: fmt.Sprintf("matcher %d", i+1), Err: err}
		}
		allMatchEmpty = allMatchEmpty && matchesEmpty(m)
	}
	if allMatchEmpty {
		// Such a silence would mute every alert.
		return invalid("at least one matcher must not match the empty string")
	}
	if s.StartsAt.IsZero() {
		return invalid("start time is required")
	}
	if s.EndsAt.IsZero() {
		return invalid("end time is required")
	}
	if !s.EndsAt.After(s.StartsAt) {
		return invalid("end time must be after start time")
	}
	if strings.TrimSpace(s.CreatedBy) == "" {
		return invalid("createdBy is required")
	}
	if strings.TrimSpace(s.Comment) == "" {
		return invalid("comment is required")
	}
	return nil
}

func validateMatcher(m *labels.Matcher) error {
	if m == nil {
		return errors.New("is missing")
	}
	if m.Name == "" {
		return errors.New("label name is empty")
	}
	// UTF-8 label names are allowed, as in Alertmanager's UTF-8 mode.
	if !utf8.ValidString(m.Name) {
		return fmt.Errorf("label name %q is not valid UTF-8", m.Name)
	}
	switch m.Type {
	case labels.MatchEqual, labels.MatchNotEqual:
		if !utf8.ValidString(m.Value) {
			return fmt.Errorf("label value %q is not valid UTF-8", m.Value)
		}
	case labels.MatchRegexp, labels.MatchNotRegexp:
		// Compiled (again) by normalize; this gives the error its context.
		if _, err := labels.NewMatcher(m.Type, m.Name, m.Value); err != nil {
			return fmt.Errorf("invalid regular expression %q: %w", m.Value, err)
		}
	default:
		return fmt.Errorf("unknown match type %d", int(m.Type))
	}
	return nil
}

// matchesEmpty follows Alertmanager's rule (silence/validation.go): only
// "=" and "=~" matchers count as matching the empty string, so that a
// silence such as {env!="prod"}, which Alertmanager accepts, is accepted
// here too.
func matchesEmpty(m *labels.Matcher) bool {
	switch m.Type {
	case labels.MatchEqual:
		return m.Value == ""
	case labels.MatchRegexp:
		return m.Matches("")
	default:
		return false
	}
}

// normalizeMatchers returns fresh copies of ms built with labels.NewMatcher,
// so that regular expressions are compiled (a Matcher literal has none)
// and the caller's later changes to its own matchers cannot reach the store.
func normalizeMatchers(ms labels.Matchers) (labels.Matchers, error) {
	out := make(labels.Matchers, len(ms))
	for i, m := range ms {
		if m == nil {
			return nil, fmt.Errorf("matcher %d is missing", i+1)
		}
		n, err := labels.NewMatcher(m.Type, m.Name, m.Value)
		if err != nil {
			return nil, fmt.Errorf("matcher %s: %w", m, err)
		}
		out[i] = n
	}
	return out, nil
}

// sameMatchers reports whether a and b hold the same matchers, in any order.
func sameMatchers(a, b labels.Matchers) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(ms labels.Matchers) []string {
		ks := make([]string, len(ms))
		for i, m := range ms {
			ks[i] = m.Type.String() + "\xff" + m.Name + "\xff" + m.Value
		}
		slices.Sort(ks)
		return ks
	}
	return slices.Equal(key(a), key(b))
}

// clone returns a copy of s whose Matchers slice is its own (the matchers
// themselves are immutable and shared).
func (s Silence) clone() Silence {
	s.Matchers = slices.Clone(s.Matchers)
	return s
}
