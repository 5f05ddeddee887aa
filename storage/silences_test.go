package storage

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/silences"
)

func matcher(t *testing.T, typ labels.MatchType, name, value string) *labels.Matcher {
	t.Helper()
	m, err := labels.NewMatcher(typ, name, value)
	require.NoError(t, err)
	return m
}

// Silences survive a close and reopen exactly, including unicode names and
// values and compiled regexps; upserts replace and deletes remove.
func TestSilencesRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		dir := newTarget()
		db := open(t, dir)
		ts := time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.UTC)
		a := silences.Silence{
			ID: "a",
			Matchers: labels.Matchers{
				matcher(t, labels.MatchEqual, "alertname", `Disk "full"`),
				matcher(t, labels.MatchNotEqual, "サービス", "☃ snow"),
				matcher(t, labels.MatchRegexp, "instance", `web-\d+|db\.[a-z]+`),
				matcher(t, labels.MatchNotRegexp, "ü.name", "(?i)tëst.*"),
			},
			StartsAt: ts, EndsAt: ts.Add(time.Hour), UpdatedAt: ts.Add(-time.Minute),
			CreatedBy: "zoë", Comment: "multi\nline, with 'quotes'",
		}
		b := silences.Silence{
			ID: "b", Matchers: labels.Matchers{matcher(t, labels.MatchEqual, "a", "1")},
			StartsAt: ts, EndsAt: ts.Add(time.Minute), UpdatedAt: ts, CreatedBy: "x", Comment: "y",
		}
		c := b
		c.ID = "c"
		p := db.Silences()
		require.NoError(t, p.SaveSilences(ctx, []silences.Silence{a, b, c}, nil))
		b.Comment, b.EndsAt = "changed", ts.Add(2*time.Hour)
		require.NoError(t, p.SaveSilences(ctx, []silences.Silence{b}, []string{"c", "no-such-id"}))
		require.NoError(t, db.Close())

		db = open(t, dir)
		defer db.Close()
		got, err := db.Silences().LoadSilences(ctx)
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, []silences.Silence{a, b}, got)
		// The regexps work, anchored as Alertmanager anchors them.
		lset := model.LabelSet{"alertname": `Disk "full"`, "instance": "db.main", "ü.name": "prod", "サービス": "x"}
		require.True(t, got[0].Matchers.Matches(lset))
		lset["instance"] = "db.main2"
		require.False(t, got[0].Matchers.Matches(lset))
		lset["instance"], lset["ü.name"] = "web-12", "TËST-1"
		require.False(t, got[0].Matchers.Matches(lset))
	})
}

// The silences store on top of the database: what Set acknowledged is
// there after a reopen.
func TestSilencesStoreReopen(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		dir := newTarget()
		db := open(t, dir)
		st, err := silences.New(ctx, silences.Options{Persister: db.Silences()})
		require.NoError(t, err)
		m := labels.Matchers{matcher(t, labels.MatchRegexp, "alertname", "A|B")}
		id, err := st.Set(ctx, silences.Silence{Matchers: m, EndsAt: time.Now().Add(time.Hour), CreatedBy: "me", Comment: "c"})
		require.NoError(t, err)
		expired, err := st.Set(ctx, silences.Silence{Matchers: m, EndsAt: time.Now().Add(time.Hour), CreatedBy: "me", Comment: "c"})
		require.NoError(t, err)
		require.NoError(t, st.Expire(ctx, expired))
		want := st.Query()
		require.NoError(t, db.Close())

		db = open(t, dir)
		defer db.Close()
		st, err = silences.New(ctx, silences.Options{Persister: db.Silences()})
		require.NoError(t, err)
		got := st.Query()
		require.Len(t, got, 2)
		for i := range want {
			require.Equal(t, want[i].ID, got[i].ID)
			require.True(t, want[i].StartsAt.Equal(got[i].StartsAt))
			require.True(t, want[i].EndsAt.Equal(got[i].EndsAt))
			require.Equal(t, want[i].Matchers.String(), got[i].Matchers.String())
		}
		require.Equal(t, []string{id}, st.Mutes(model.LabelSet{"alertname": "B"}))
	})
}

func TestDecodeMatchersErrors(t *testing.T) {
	for _, tt := range []struct{ in, err string }{
		{`not json`, "matchers"},
		{`[{"name":"a","value":"x","type":"=="}]`, `unknown match type "=="`},
		{`[{"name":"a","value":"(","type":"=~"}]`, `matcher "a"`},
	} {
		_, err := decodeMatchers(tt.in)
		require.ErrorContains(t, err, tt.err, tt.in)
	}
	_, err := encodeMatchers(labels.Matchers{{Type: 7, Name: "a"}})
	require.ErrorContains(t, err, "unknown match type 7")
}
