package silences

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

var ctx = context.Background()

func TestSetNew(t *testing.T) {
	clk := newClock()
	s := newStore(t, clk, nil)
	v0 := s.Version()

	// A start in the past is clamped to now; a zero start means now.
	sil := newSilence(labels.Matchers{eq(t, "a", "x")}, -time.Hour, time.Hour)
	id, err := s.Set(ctx, sil)
	require.NoError(t, err)
	require.Len(t, id, 36)
	got, err := s.Get(id)
	require.NoError(t, err)
	require.Equal(t, t0, got.StartsAt)
	require.Equal(t, t0, got.UpdatedAt)
	require.Equal(t, StateActive, got.State(clk.Now()))
	require.Greater(t, s.Version(), v0)

	sil.StartsAt = time.Time{}
	id2, err := s.Set(ctx, sil)
	require.NoError(t, err)
	require.NotEqual(t, id, id2)
	got, err = s.Get(id2)
	require.NoError(t, err)
	require.Equal(t, t0, got.StartsAt)

	// A future start stays: pending.
	id3, err := s.Set(ctx, newSilence(labels.Matchers{eq(t, "a", "x")}, time.Hour, 2*time.Hour))
	require.NoError(t, err)
	got, err = s.Get(id3)
	require.NoError(t, err)
	require.Equal(t, StatePending, got.State(clk.Now()))
}

func TestSetRejects(t *testing.T) {
	clk := newClock()
	s := newStore(t, clk, nil)
	_, err := s.Set(ctx, newSilence(labels.Matchers{eq(t, "a", "x")}, -2*time.Hour, -time.Hour))
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.ErrorContains(t, err, "end time must be in the future")

	_, err = s.Set(ctx, newSilence(nil, 0, time.Hour))
	require.ErrorAs(t, err, &verr)

	sil := newSilence(labels.Matchers{eq(t, "a", "x")}, 0, time.Hour)
	sil.ID = "no-such-id"
	_, err = s.Set(ctx, sil)
	require.ErrorIs(t, err, ErrNotFound)
	require.Empty(t, s.Query())
	require.Zero(t, s.Version())
}

// The caller's matchers are copied: changing them later changes nothing.
func TestSetCopiesMatchers(t *testing.T) {
	s := newStore(t, newClock(), nil)
	ms := labels.Matchers{eq(t, "a", "x")}
	id, err := s.Set(ctx, newSilence(ms, 0, time.Hour))
	require.NoError(t, err)
	ms[0].Value = "changed"
	got, err := s.Get(id)
	require.NoError(t, err)
	require.Equal(t, "x", got.Matchers[0].Value)
	require.Equal(t, []string{id}, s.Mutes(model.LabelSet{"a": "x"}))
}

func TestSetUpdate(t *testing.T) {
	ma, mb := labels.Matchers{eq(t, "a", "x")}, labels.Matchers{eq(t, "b", "y")}
	tests := []struct {
		name    string
		initial Silence       // created at t0
		advance time.Duration // before the update
		update  func(*Silence)
		inPlace bool   // same ID afterwards
		err     string // substring, if the update fails
	}{
		{
			name:    "pending: move start and end",
			initial: newSilence(ma, time.Hour, 2*time.Hour),
			update:  func(s *Silence) { s.StartsAt, s.EndsAt = t0.Add(30*time.Minute), t0.Add(3*time.Hour) },
			inPlace: true,
		},
		{
			name:    "pending: change comment",
			initial: newSilence(ma, time.Hour, 2*time.Hour),
			update:  func(s *Silence) { s.Comment = "other" },
			inPlace: true,
		},
		{
			// As Alertmanager: other matchers make another silence.
			name:    "pending: change matchers replaces",
			initial: newSilence(ma, time.Hour, 2*time.Hour),
			update:  func(s *Silence) { s.Matchers, s.Comment = mb, "other" },
		},
		{
			name:    "pending: start moved into the past replaces",
			initial: newSilence(ma, time.Hour, 2*time.Hour),
			update:  func(s *Silence) { s.StartsAt = t0.Add(-time.Minute) },
		},
		{
			name:    "active: extend end, change comment and author",
			initial: newSilence(ma, 0, time.Hour),
			advance: 10 * time.Minute,
			update:  func(s *Silence) { s.EndsAt, s.Comment, s.CreatedBy = t0.Add(5*time.Hour), "longer", "bob" },
			inPlace: true,
		},
		{
			name:    "active: shorten end to the future",
			initial: newSilence(ma, 0, time.Hour),
			advance: 10 * time.Minute,
			update:  func(s *Silence) { s.EndsAt = t0.Add(11 * time.Minute) },
			inPlace: true,
		},
		{
			name:    "active: start rounded to the second counts as unchanged",
			initial: newSilence(ma, 0, time.Hour),
			advance: 10 * time.Minute,
			update:  func(s *Silence) { s.StartsAt = s.StartsAt.Add(300 * time.Millisecond) },
			inPlace: true,
		},
		{
			name:    "active: change matchers replaces",
			initial: newSilence(ma, 0, time.Hour),
			advance: 10 * time.Minute,
			update:  func(s *Silence) { s.Matchers = mb },
		},
		{
			name:    "active: change start replaces",
			initial: newSilence(ma, 0, time.Hour),
			advance: 10 * time.Minute,
			update:  func(s *Silence) { s.StartsAt = t0.Add(20 * time.Minute) },
		},
		{
			name:    "active: end in the past is rejected",
			initial: newSilence(ma, 0, time.Hour),
			advance: 10 * time.Minute,
			update:  func(s *Silence) { s.EndsAt = t0.Add(5 * time.Minute) },
			err:     "end time must be in the future",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			p := newMemPersister()
			s := newStore(t, clk, p)
			id, err := s.Set(ctx, tt.initial)
			require.NoError(t, err)
			before, err := s.Get(id)
			require.NoError(t, err)
			clk.Advance(tt.advance)
			now := clk.Now()

			upd := before
			tt.update(&upd)
			v := s.Version()
			newID, err := s.Set(ctx, upd)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				var verr *ValidationError
				require.ErrorAs(t, err, &verr)
				require.Equal(t, v, s.Version())
				after, err := s.Get(id)
				require.NoError(t, err)
				require.Equal(t, before, after)
				return
			}
			require.NoError(t, err)
			require.Greater(t, s.Version(), v)
			got, err := s.Get(newID)
			require.NoError(t, err)
			require.Equal(t, now, got.UpdatedAt)
			require.Equal(t, upd.Comment, got.Comment)
			require.True(t, sameMatchers(upd.Matchers, got.Matchers))
			require.Equal(t, upd.EndsAt, got.EndsAt)
			if tt.inPlace {
				require.Equal(t, id, newID)
				require.Len(t, s.Query(), 1)
				require.Equal(t, got, p.sils[id])
				return
			}
			// Replaced: the old silence is kept, expired now, and the new
			// one starts no earlier than now.
			require.NotEqual(t, id, newID)
			require.Equal(t, id, got.Replaces, "the new silence names the one it replaced")
			old, err := s.Get(id)
			require.NoError(t, err)
			require.Equal(t, StateExpired, old.State(now))
			require.Equal(t, now, old.EndsAt)
			require.False(t, got.StartsAt.Before(now))
			require.Len(t, p.sils, 2)
			require.Equal(t, 2, p.saves, "replace is one write")
		})
	}
}

// Updating an expired silence creates a new one and leaves the expired one
// as it was, as in Alertmanager (amtool silence import of an old export).
func TestSetUpdateExpired(t *testing.T) {
	clk := newClock()
	p := newMemPersister()
	s := newStore(t, clk, p)
	id, err := s.Set(ctx, newSilence(labels.Matchers{eq(t, "a", "x")}, 0, time.Hour))
	require.NoError(t, err)
	before, err := s.Get(id)
	require.NoError(t, err)
	clk.Advance(2 * time.Hour)
	upd := before
	upd.EndsAt = clk.Now().Add(3 * time.Hour)
	newID, err := s.Set(ctx, upd)
	require.NoError(t, err)
	require.NotEqual(t, id, newID)
	after, err := s.Get(id)
	require.NoError(t, err)
	require.Equal(t, before, after, "the expired silence is unchanged")
	got, err := s.Get(newID)
	require.NoError(t, err)
	require.Equal(t, StateActive, got.State(clk.Now()))
	require.Equal(t, clk.Now(), got.StartsAt)
	require.Len(t, p.sils, 2)
}

func TestExpire(t *testing.T) {
	clk := newClock()
	p := newMemPersister()
	s := newStore(t, clk, p)
	active, err := s.Set(ctx, newSilence(labels.Matchers{eq(t, "a", "x")}, 0, time.Hour))
	require.NoError(t, err)
	pending, err := s.Set(ctx, newSilence(labels.Matchers{eq(t, "a", "x")}, time.Hour, 2*time.Hour))
	require.NoError(t, err)
	clk.Advance(time.Minute)
	now := clk.Now()
	lset := model.LabelSet{"a": "x"}
	require.Equal(t, []string{active}, s.Mutes(lset))

	require.NoError(t, s.Expire(ctx, active))
	got, err := s.Get(active)
	require.NoError(t, err)
	require.Equal(t, t0, got.StartsAt)
	require.Equal(t, now, got.EndsAt)
	require.Equal(t, StateExpired, got.State(now))
	require.Nil(t, s.Mutes(lset))
	require.Equal(t, got, p.sils[active])

	// A pending silence is expired so that it never was active.
	require.NoError(t, s.Expire(ctx, pending))
	got, err = s.Get(pending)
	require.NoError(t, err)
	require.Equal(t, now, got.StartsAt)
	require.Equal(t, now, got.EndsAt)
	clk.Advance(2 * time.Hour)
	require.Nil(t, s.Mutes(lset))

	err = s.Expire(ctx, active)
	require.ErrorIs(t, err, ErrExpired)
	require.ErrorContains(t, err, "silence already expired")
	require.ErrorIs(t, s.Expire(ctx, "nope"), ErrNotFound)
}

// A silence goes pending -> active -> expired as time passes, and Mutes,
// Query and the metric follow.
func TestStateTransitions(t *testing.T) {
	clk := newClock()
	reg := prometheus.NewPedanticRegistry()
	s, err := New(ctx, Options{Now: clk.Now, Registerer: reg})
	require.NoError(t, err)
	id, err := s.Set(ctx, newSilence(labels.Matchers{eq(t, "a", "x")}, time.Hour, 2*time.Hour))
	require.NoError(t, err)
	lset := model.LabelSet{"a": "x", "b": "y"}
	steps := []struct {
		at    time.Duration
		state State
		mutes []string
	}{
		{0, StatePending, nil},
		{time.Hour, StateActive, []string{id}},
		{90 * time.Minute, StateActive, []string{id}},
		{2 * time.Hour, StateExpired, nil},
	}
	for _, st := range steps {
		clk.Set(t0.Add(st.at))
		require.Equal(t, st.mutes, s.Mutes(lset), "at %v", st.at)
		require.Len(t, s.Query(QState(st.state)), 1, "at %v", st.at)
		require.Len(t, s.Query(QState(st.state), QMatches(lset)), 1, "at %v", st.at)
		require.Empty(t, s.Query(QState(st.state), QMatches(model.LabelSet{"a": "z"})), "at %v", st.at)
		want := map[State]string{StatePending: "0", StateActive: "0", StateExpired: "0"}
		want[st.state] = "1"
		exp := "# HELP alerter_silences Silences by state.\n# TYPE alerter_silences gauge\n"
		for _, state := range []State{StateActive, StateExpired, StatePending} {
			exp += `alerter_silences{state="` + string(state) + `"} ` + want[state] + "\n"
		}
		require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(exp), "alerter_silences"), "at %v", st.at)
	}
}

func TestQuery(t *testing.T) {
	clk := newClock()
	s := newStore(t, clk, nil)
	a, err := s.Set(ctx, newSilence(labels.Matchers{eq(t, "a", "x")}, 0, time.Hour))
	require.NoError(t, err)
	clk.Advance(time.Second)
	b, err := s.Set(ctx, newSilence(labels.Matchers{m(t, labels.MatchRegexp, "a", "x|y")}, time.Hour, 2*time.Hour))
	require.NoError(t, err)
	ids := func(sils []Silence) []string {
		var out []string
		for _, s := range sils {
			out = append(out, s.ID)
		}
		return out
	}
	require.Equal(t, []string{b, a}, ids(s.Query()), "newest first")
	require.Equal(t, []string{a}, ids(s.Query(QIDs(a, a, "nope"))))
	require.Empty(t, s.Query(QIDs()))
	require.Equal(t, []string{b, a}, ids(s.Query(QState(StateActive, StatePending))))
	require.Equal(t, []string{b}, ids(s.Query(QState(StatePending))))
	require.Equal(t, []string{b}, ids(s.Query(QMatches(model.LabelSet{"a": "y"}))))
	require.Equal(t, []string{b, a}, ids(s.Query(QMatches(model.LabelSet{"a": "x"}))))
	require.Equal(t, []string{a}, ids(s.Query(QMatches(model.LabelSet{"a": "x"}), QState(StateActive))))
	require.Equal(t, []string{b}, ids(s.Query(QIDs(a, b), QState(StatePending))))
}

// A write that fails changes nothing in memory.
func TestPersistFailureChangesNothing(t *testing.T) {
	clk := newClock()
	p := newMemPersister()
	s := newStore(t, clk, p)
	id, err := s.Set(ctx, newSilence(labels.Matchers{eq(t, "a", "x")}, 0, time.Hour))
	require.NoError(t, err)
	before := s.Query()
	v := s.Version()
	lset := model.LabelSet{"a": "x"}

	errDisk := errors.New("disk full")
	p.fail(errDisk)
	_, err = s.Set(ctx, newSilence(labels.Matchers{eq(t, "b", "y")}, 0, time.Hour))
	require.ErrorIs(t, err, errDisk)
	upd := before[0]
	upd.Matchers = labels.Matchers{eq(t, "b", "y")} // would replace
	_, err = s.Set(ctx, upd)
	require.ErrorIs(t, err, errDisk)
	upd = before[0]
	upd.EndsAt = t0.Add(time.Minute) // would update in place
	_, err = s.Set(ctx, upd)
	require.ErrorIs(t, err, errDisk)
	require.ErrorIs(t, s.Expire(ctx, id), errDisk)
	clk.Advance(3 * time.Hour)
	_, err = s.GC(ctx)
	require.ErrorIs(t, err, errDisk)
	clk.Advance(-3 * time.Hour)

	require.Equal(t, before, s.Query())
	require.Equal(t, v, s.Version())
	require.Equal(t, []string{id}, s.Mutes(lset))
	require.Nil(t, s.Mutes(model.LabelSet{"b": "y"}))
}

func TestReload(t *testing.T) {
	clk := newClock()
	p := newMemPersister()
	s := newStore(t, clk, p)
	a, err := s.Set(ctx, newSilence(labels.Matchers{eq(t, "a", "x"), m(t, labels.MatchRegexp, "b", "y+")}, 0, time.Hour))
	require.NoError(t, err)
	b, err := s.Set(ctx, newSilence(labels.Matchers{m(t, labels.MatchNotRegexp, "c", "z")}, 0, time.Hour))
	require.NoError(t, err)
	c, err := s.Set(ctx, newSilence(labels.Matchers{eq(t, "a", "x")}, 0, time.Hour))
	require.NoError(t, err)
	require.NoError(t, s.Expire(ctx, c))

	// Matchers as a persister rebuilds them: without compiled regexps.
	for id, sil := range p.sils {
		for i, mt := range sil.Matchers {
			sil.Matchers[i] = &labels.Matcher{Type: mt.Type, Name: mt.Name, Value: mt.Value}
		}
		p.sils[id] = sil
	}
	s2 := newStore(t, clk, p)
	require.Equal(t, s.Query(), s2.Query())
	lset := model.LabelSet{"a": "x", "b": "yy"}
	require.Equal(t, s.Mutes(lset), s2.Mutes(lset))
	require.ElementsMatch(t, []string{a, b}, s2.Mutes(lset))
}

func TestNewErrors(t *testing.T) {
	_, err := New(ctx, Options{Retention: -time.Second})
	require.ErrorContains(t, err, "negative")
	p := newMemPersister()
	p.sils["x"] = Silence{ID: "x", Matchers: labels.Matchers{{Type: labels.MatchRegexp, Name: "a", Value: "("}}}
	_, err = New(ctx, Options{Persister: p})
	require.ErrorContains(t, err, "load silence x")
	reg := prometheus.NewRegistry()
	_, err = New(ctx, Options{Registerer: reg})
	require.NoError(t, err)
	_, err = New(ctx, Options{Registerer: reg})
	require.ErrorContains(t, err, "register silence metrics")
}

func TestGC(t *testing.T) {
	clk := newClock()
	p := newMemPersister()
	reg := prometheus.NewRegistry()
	s, err := New(ctx, Options{Persister: p, Now: clk.Now, Retention: time.Hour, Registerer: reg})
	require.NoError(t, err)
	short, err := s.Set(ctx, newSilence(labels.Matchers{eq(t, "a", "x")}, 0, time.Hour))
	require.NoError(t, err)
	long, err := s.Set(ctx, newSilence(labels.Matchers{m(t, labels.MatchRegexp, "a", "x")}, 0, 3*time.Hour))
	require.NoError(t, err)

	steps := []struct {
		at      time.Duration
		deleted int
		left    []string
	}{
		{30 * time.Minute, 0, []string{short, long}}, // active
		{90 * time.Minute, 0, []string{short, long}}, // short expired, within retention
		{2 * time.Hour, 0, []string{short, long}},    // exactly retention: kept
		{2*time.Hour + 1, 1, []string{long}},         // past retention
		{4 * time.Hour, 0, []string{long}},           // long expired
		{4*time.Hour + time.Second, 1, []string{}},   // gone
	}
	total := 0
	for _, st := range steps {
		clk.Set(t0.Add(st.at))
		v := s.Version()
		n, err := s.GC(ctx)
		require.NoError(t, err)
		require.Equal(t, st.deleted, n, "at %v", st.at)
		total += n
		var left []string
		for _, sil := range s.Query() {
			left = append(left, sil.ID)
		}
		require.ElementsMatch(t, st.left, left, "at %v", st.at)
		require.Len(t, p.sils, len(st.left), "at %v", st.at)
		require.Equal(t, n > 0, s.Version() > v, "at %v", st.at)
	}
	require.Equal(t, float64(total), testutil.ToFloat64(s.gcDeleted))
}
