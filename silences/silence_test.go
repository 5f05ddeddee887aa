package silences

import (
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	valid := func() Silence { return newSilence(labels.Matchers{eq(t, "alertname", "A")}, 0, time.Hour) }
	badRegexp := &labels.Matcher{Type: labels.MatchRegexp, Name: "a", Value: "(unclosed"}
	tests := []struct {
		name   string
		change func(*Silence)
		err    string // substring; empty means valid
	}{
		{"valid", func(*Silence) {}, ""},
		{"no matchers", func(s *Silence) { s.Matchers = nil }, "at least one matcher is required"},
		{"nil matcher", func(s *Silence) { s.Matchers = labels.Matchers{nil} }, "matcher 1: is missing"},
		{"empty name", func(s *Silence) { s.Matchers = labels.Matchers{eq(t, "", "x")} }, "matcher 1: label name is empty"},
		{"name not UTF-8", func(s *Silence) { s.Matchers = labels.Matchers{eq(t, "a\xff", "x")} }, "not valid UTF-8"},
		{"value not UTF-8", func(s *Silence) { s.Matchers = labels.Matchers{eq(t, "a", "\xff")} }, "not valid UTF-8"},
		{"bad regexp", func(s *Silence) { s.Matchers = labels.Matchers{eq(t, "b", "x"), badRegexp} }, `matcher 2: invalid regular expression "(unclosed"`},
		{"unknown type", func(s *Silence) { s.Matchers = labels.Matchers{{Type: 9, Name: "a", Value: "x"}} }, "unknown match type 9"},
		{"all match empty", func(s *Silence) {
			s.Matchers = labels.Matchers{eq(t, "a", ""), m(t, labels.MatchRegexp, "b", ".*")}
		}, "at least one matcher must not match the empty string"},
		{"regexp matching empty", func(s *Silence) { s.Matchers = labels.Matchers{m(t, labels.MatchRegexp, "b", "x|")} }, "must not match the empty string"},
		{"negative matcher alone (Alertmanager accepts)", func(s *Silence) { s.Matchers = labels.Matchers{m(t, labels.MatchNotEqual, "env", "prod")} }, ""},
		{"unicode name", func(s *Silence) { s.Matchers = labels.Matchers{eq(t, "службa.name", "☃")} }, ""},
		{"duplicate matchers allowed", func(s *Silence) { s.Matchers = labels.Matchers{eq(t, "a", "x"), eq(t, "a", "x")} }, ""},
		{"zero start", func(s *Silence) { s.StartsAt = time.Time{} }, "start time is required"},
		{"zero end", func(s *Silence) { s.EndsAt = time.Time{} }, "end time is required"},
		{"end equals start", func(s *Silence) { s.EndsAt = s.StartsAt }, "end time must be after start time"},
		{"end before start", func(s *Silence) { s.EndsAt = s.StartsAt.Add(-time.Second) }, "end time must be after start time"},
		{"no createdBy", func(s *Silence) { s.CreatedBy = " " }, "createdBy is required"},
		{"no comment", func(s *Silence) { s.Comment = "" }, "comment is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid()
			tt.change(&s)
			err := s.Validate()
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.err)
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
		})
	}
}

func TestState(t *testing.T) {
	s := newSilence(labels.Matchers{eq(t, "a", "x")}, time.Minute, time.Hour)
	tests := []struct {
		at   time.Duration
		want State
	}{
		{-time.Hour, StatePending},
		{time.Minute - 1, StatePending},
		{time.Minute, StateActive}, // StartsAt is inclusive
		{30 * time.Minute, StateActive},
		{time.Hour - 1, StateActive},
		{time.Hour, StateExpired}, // EndsAt is exclusive
		{48 * time.Hour, StateExpired},
	}
	for _, tt := range tests {
		now := t0.Add(tt.at)
		require.Equal(t, tt.want, s.State(now), "at %v", tt.at)
		require.Equal(t, tt.want == StateActive, s.active(now), "at %v", tt.at)
	}
}

func TestValidationErrorUnwrap(t *testing.T) {
	err := error(&ValidationError{Msg: "silence x", Err: ErrExpired})
	require.ErrorIs(t, err, ErrExpired)
	require.Equal(t, "silence x: silence already expired", err.Error())
	require.Equal(t, "plain", (&ValidationError{Msg: "plain"}).Error())
	require.NotErrorIs(t, &ValidationError{Msg: "plain"}, ErrExpired)
}

func TestSameMatchers(t *testing.T) {
	a := labels.Matchers{eq(t, "a", "1"), m(t, labels.MatchRegexp, "b", "2")}
	require.True(t, sameMatchers(a, labels.Matchers{a[1], a[0]}))
	require.False(t, sameMatchers(a, labels.Matchers{a[0]}))
	require.False(t, sameMatchers(a, labels.Matchers{a[0], m(t, labels.MatchNotRegexp, "b", "2")}))
}
