package silences

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

func TestMutes(t *testing.T) {
	tests := []struct {
		name     string
		matchers labels.Matchers
		lset     model.LabelSet
		want     bool
	}{
		{"equal", labels.Matchers{eq(t, "a", "x")}, model.LabelSet{"a": "x", "b": "y"}, true},
		{"equal, other value", labels.Matchers{eq(t, "a", "x")}, model.LabelSet{"a": "xx"}, false},
		{"equal, label missing", labels.Matchers{eq(t, "a", "x")}, model.LabelSet{"b": "x"}, false},
		{"equal empty matches missing label", labels.Matchers{eq(t, "a", "x"), eq(t, "c", "")}, model.LabelSet{"a": "x"}, true},
		{"equal empty, label present", labels.Matchers{eq(t, "a", "x"), eq(t, "c", "")}, model.LabelSet{"a": "x", "c": "1"}, false},
		{"not equal", labels.Matchers{eq(t, "a", "x"), m(t, labels.MatchNotEqual, "env", "prod")}, model.LabelSet{"a": "x", "env": "dev"}, true},
		{"not equal, same value", labels.Matchers{eq(t, "a", "x"), m(t, labels.MatchNotEqual, "env", "prod")}, model.LabelSet{"a": "x", "env": "prod"}, false},
		{"not equal, label missing", labels.Matchers{m(t, labels.MatchNotEqual, "env", "prod")}, model.LabelSet{"a": "x"}, true},
		{"regexp", labels.Matchers{m(t, labels.MatchRegexp, "instance", "web-[0-9]+")}, model.LabelSet{"instance": "web-12"}, true},
		{"regexp is anchored", labels.Matchers{m(t, labels.MatchRegexp, "instance", "web-[0-9]+")}, model.LabelSet{"instance": "xweb-12"}, false},
		{"regexp, label missing", labels.Matchers{m(t, labels.MatchRegexp, "instance", "web.*")}, model.LabelSet{"a": "x"}, false},
		{"regexp matching empty, label missing", labels.Matchers{eq(t, "a", "x"), m(t, labels.MatchRegexp, "i", "|web")}, model.LabelSet{"a": "x"}, true},
		{"not regexp", labels.Matchers{eq(t, "a", "x"), m(t, labels.MatchNotRegexp, "i", "db.*")}, model.LabelSet{"a": "x", "i": "web"}, true},
		{"not regexp, matching value", labels.Matchers{eq(t, "a", "x"), m(t, labels.MatchNotRegexp, "i", "db.*")}, model.LabelSet{"a": "x", "i": "db1"}, false},
		{"not regexp, label missing", labels.Matchers{m(t, labels.MatchNotRegexp, "i", "db.*")}, model.LabelSet{"a": "x"}, true},
		{"unicode", labels.Matchers{eq(t, "サービス", "☃"), m(t, labels.MatchRegexp, "ü", "ä.")}, model.LabelSet{"サービス": "☃", "ü": "äö"}, true},
		{"all matchers must match", labels.Matchers{eq(t, "a", "x"), eq(t, "b", "y")}, model.LabelSet{"a": "x", "b": "z"}, false},
		{"empty label set", labels.Matchers{m(t, labels.MatchNotEqual, "a", "x")}, model.LabelSet{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, newClock(), nil)
			// An unrelated active silence, and a pending one with the
			// same matchers, never show up.
			_, err := s.Set(ctx, newSilence(labels.Matchers{eq(t, "zzz", "1")}, 0, time.Hour))
			require.NoError(t, err)
			_, err = s.Set(ctx, newSilence(tt.matchers, time.Minute, time.Hour))
			require.NoError(t, err)
			id, err := s.Set(ctx, newSilence(tt.matchers, 0, time.Hour))
			require.NoError(t, err)
			got := s.Mutes(tt.lset)
			if tt.want {
				require.Equal(t, []string{id}, got)
			} else {
				require.Nil(t, got)
			}
		})
	}
}

// randomMatchers draws from small alphabets so that silences and label
// sets often overlap.
func randomMatchers(t testing.TB, r *rand.Rand) labels.Matchers {
	names := []string{"alertname", "instance", "job", "env", "ü"}
	values := []string{"", "a", "b", "c", "d", "e", "web-1", "☃"}
	regexps := []string{"a|b", "web-.*", ".*", "c?", "☃|a", "", "web-(1|22)", "(?i)a|b", "a|b|"}
	var ms labels.Matchers
	if r.IntN(5) > 0 { // most silences name an alert or an instance
		ms = append(ms, eq(t, names[r.IntN(2)], values[1+r.IntN(len(values)-1)]))
	}
	for range 1 + r.IntN(2) {
		name := names[r.IntN(len(names))]
		typ := labels.MatchEqual // half of them, the others evenly
		if k := r.IntN(6); k > 2 {
			typ = labels.MatchType(k - 2)
		}
		value := values[r.IntN(len(values))]
		if typ == labels.MatchRegexp || typ == labels.MatchNotRegexp {
			value = regexps[r.IntN(len(regexps))]
		}
		ms = append(ms, m(t, typ, name, value))
	}
	return ms
}

func randomLabelSet(r *rand.Rand) model.LabelSet {
	names := []model.LabelName{"alertname", "instance", "job", "env", "ü", "other"}
	values := []model.LabelValue{"a", "b", "c", "d", "e", "web-1", "web-22", "☃"}
	lset := model.LabelSet{}
	for _, n := range names {
		if r.IntN(3) > 0 {
			lset[n] = values[r.IntN(len(values))]
		}
	}
	return lset
}

// bruteMutes is Mutes by definition: every silence active at now whose
// matchers all match.
func bruteMutes(s *Store, lset model.LabelSet, now time.Time) []string {
	var ids []string
	for _, sil := range s.Query() {
		if sil.State(now) == StateActive && sil.Matchers.Matches(lset) {
			ids = append(ids, sil.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// The index gives the same answers as a scan of all silences, through a
// random history of creates, updates, expiries, GCs and time passing.
func TestIndexMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	clk := newClock()
	s := newStore(t, clk, newMemPersister())
	var ids []string
	nonEmpty, checks := 0, 0
	for step := range 2000 {
		switch op := r.IntN(10); {
		case op < 5 || len(ids) == 0: // create
			start := time.Duration(r.IntN(60)-20) * time.Minute
			sil := newSilence(randomMatchers(t, r), 0, time.Hour)
			sil.StartsAt, sil.EndsAt = clk.Now().Add(start), clk.Now().Add(start+time.Duration(1+r.IntN(120))*time.Minute)
			if id, err := s.Set(ctx, sil); err == nil {
				ids = append(ids, id)
			}
		case op < 7: // update: in place or replace, or refused
			sil, err := s.Get(ids[r.IntN(len(ids))])
			if errors.Is(err, ErrNotFound) {
				continue // collected
			}
			require.NoError(t, err)
			if r.IntN(2) == 0 {
				sil.Matchers = randomMatchers(t, r)
			}
			sil.EndsAt = clk.Now().Add(time.Duration(1+r.IntN(120)) * time.Minute)
			if id, err := s.Set(ctx, sil); err == nil && id != sil.ID {
				ids = append(ids, id)
			}
		case op < 8:
			_ = s.Expire(ctx, ids[r.IntN(len(ids))])
		case op < 9 && r.IntN(4) == 0:
			_, err := s.GC(ctx)
			require.NoError(t, err)
		default:
			clk.Advance(time.Duration(r.IntN(10)) * time.Minute)
		}
		for range 5 {
			lset := randomLabelSet(r)
			want := bruteMutes(s, lset, clk.Now())
			require.Equal(t, want, s.Mutes(lset), "step %d, %v", step, lset)
			checks++
			if len(want) > 0 {
				nonEmpty++
			}
		}
	}
	t.Logf("%d of %d label sets muted; %d silences", nonEmpty, checks, len(s.Query()))
	require.Greater(t, nonEmpty, checks/10)
	require.Less(t, nonEmpty, checks*9/10)
	// The history exercised all three states.
	states := map[State]int{}
	for _, sil := range s.Query() {
		states[sil.State(clk.Now())]++
	}
	require.Len(t, states, 3, fmt.Sprint(states))
}

// Where silences are filed: spread over the least used equality matcher,
// under every value of a literal regexp set, or in the scan list.
func TestIndexFiling(t *testing.T) {
	clk := newClock()
	s := newStore(t, clk, nil)
	set := func(ms ...*labels.Matcher) string {
		id, err := s.Set(ctx, newSilence(ms, 0, time.Hour))
		require.NoError(t, err)
		return id
	}
	var hosts []string
	for i := range 3 {
		hosts = append(hosts, set(eq(t, "alertname", "A"), eq(t, "instance", fmt.Sprint("h", i))))
	}
	multi := set(m(t, labels.MatchRegexp, "alertname", "B|C"), m(t, labels.MatchNotEqual, "env", "dev"))
	caseless := set(m(t, labels.MatchRegexp, "alertname", "(?i)d"))
	open := set(m(t, labels.MatchRegexp, "instance", "web-.*"))
	ix := s.index.Load()
	require.Equal(t, []indexKey{{"alertname", "A"}}, ix.filed[hosts[0]])
	require.Equal(t, []indexKey{{"instance", "h1"}}, ix.filed[hosts[1]], "spread to the emptier bucket")
	require.Equal(t, []indexKey{{"instance", "h2"}}, ix.filed[hosts[2]])
	require.ElementsMatch(t, []indexKey{{"alertname", "B"}, {"alertname", "C"}}, ix.filed[multi])
	require.Equal(t, []indexKey{{name: "alertname"}}, ix.filed[caseless], "scan group")
	require.Equal(t, []indexKey{{name: "instance"}}, ix.filed[open])
	require.Equal(t, []scanGroup{
		{name: "alertname", entries: []*entry{s.silences[caseless]}},
		{name: "instance", entries: []*entry{s.silences[open]}},
	}, ix.scan)

	require.Equal(t, []string{multi}, s.Mutes(model.LabelSet{"alertname": "C"}))
	require.Equal(t, []string{caseless}, s.Mutes(model.LabelSet{"alertname": "D"}))
	require.Equal(t, []string{hosts[1]}, s.Mutes(model.LabelSet{"alertname": "A", "instance": "h1"}))

	// Expired silences leave the index at once when expired by hand, at
	// the next GC when their time runs out.
	require.NoError(t, s.Expire(ctx, multi))
	require.NotContains(t, s.index.Load().filed, multi)
	require.Nil(t, s.index.Load().bucket(indexKey{"alertname", "B"}))
	clk.Advance(time.Hour)
	require.Len(t, s.index.Load().filed, 5)
	_, err := s.GC(ctx)
	require.NoError(t, err)
	require.Empty(t, s.index.Load().filed)
	require.Empty(t, s.index.Load().scan)
}
