package silences

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// benchStore holds 10,000 active silences: 9,500 name an alert and an
// instance (some with a negation or an open regexp on top), 400 an
// alertname=~"A|B" set, 100 only an open regexp (the scan list).
func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := New(ctx, Options{Persister: newMemPersister(), Now: func() time.Time { return t0 }})
	require.NoError(b, err)
	for i := range 10000 {
		var ms labels.Matchers
		switch {
		case i < 9500:
			ms = labels.Matchers{eq(b, "alertname", fmt.Sprint("Alert", i%500)), eq(b, "instance", fmt.Sprint("host-", i))}
			if i%3 == 0 {
				ms = append(ms, m(b, labels.MatchNotEqual, "severity", "info"))
			}
			if i%5 == 0 {
				ms = append(ms, m(b, labels.MatchRegexp, "job", "node|api.*"))
			}
		case i < 9900:
			ms = labels.Matchers{m(b, labels.MatchRegexp, "alertname", fmt.Sprintf("Alert%d|Alert%d", i%500, (i+1)%500))}
		default:
			ms = labels.Matchers{m(b, labels.MatchRegexp, "instance", fmt.Sprintf("db-%d-.*", i))}
		}
		_, err := s.Set(ctx, newSilence(ms, 0, time.Hour))
		require.NoError(b, err)
	}
	return s
}

func alertLabels(alertname, instance string) model.LabelSet {
	return model.LabelSet{
		"alertname": model.LabelValue(alertname), "instance": model.LabelValue(instance),
		"job": "node", "env": "prod", "severity": "critical", "cluster": "eu-1",
		"region": "europe-west1", "team": "platform", "service": "checkout", "pod": "checkout-7d9f8-x2x4q",
	}
}

func BenchmarkMutes(b *testing.B) {
	s := benchStore(b)
	for _, bc := range []struct {
		name  string
		lset  model.LabelSet
		mutes int
	}{
		{"match", alertLabels("Alert450", "host-450"), 1},          // one alertname+instance silence
		{"match-set", alertLabels("Alert9", "host-x"), 2},          // two alertname=~"A|B" silences
		{"match-scan", alertLabels("NoSuchAlert", "db-9950-1"), 1}, // one open regexp
		{"nomatch", alertLabels("NoSuchAlert", "host-nope"), 0},    // no bucket hit
		{"nomatch-near", alertLabels("Alert450", "host-8"), 0},     // alertname bucket hit, wrong instance
		{"nomatch-scan", alertLabels("NoSuchAlert", "db-99x"), 0},  // passes the open regexps' prefix
	} {
		b.Run(bc.name, func(b *testing.B) {
			require.Len(b, s.Mutes(bc.lset), bc.mutes)
			b.ReportAllocs()
			for b.Loop() {
				s.Mutes(bc.lset)
			}
		})
	}
}

func BenchmarkSet(b *testing.B) {
	b.Run("create", func(b *testing.B) {
		s := benchStore(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sil := newSilence(labels.Matchers{eq(b, "alertname", "Alert1"), eq(b, "instance", fmt.Sprint("new-", i))}, 0, time.Hour)
			if _, err := s.Set(ctx, sil); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("update-in-place", func(b *testing.B) {
		s := benchStore(b)
		sils := s.Query(QState(StateActive))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sil := sils[i%len(sils)]
			sil.EndsAt = sil.EndsAt.Add(time.Duration(i) * time.Second)
			if _, err := s.Set(ctx, sil); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("replace", func(b *testing.B) {
		s := benchStore(b)
		sils := s.Query(QState(StateActive))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sil := sils[i%len(sils)]
			sil.Comment = "replaced"
			sil.Matchers = append(labels.Matchers{eq(b, "env", fmt.Sprint("e", i))}, sil.Matchers[max(0, len(sil.Matchers)-2):]...)
			id, err := s.Set(ctx, sil)
			if err != nil {
				b.Fatal(err)
			}
			sil.ID = id
			sils[i%len(sils)] = sil
			i++
		}
	})
}
