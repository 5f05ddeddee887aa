package dispatch

import (
	"testing"
	"time"

	amalert "github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// amMergeInPut is what Alertmanager's provider/mem Alerts.Put stores when
// alert arrives while old is stored: old.Merge(alert) if their active
// ranges overlap, alert otherwise.
func amMergeInPut(old, alert *amalert.Alert) *amalert.Alert {
	if (alert.EndsAt.After(old.StartsAt) && alert.EndsAt.Before(old.EndsAt)) ||
		(alert.StartsAt.After(old.StartsAt) && alert.StartsAt.Before(old.EndsAt)) {
		return old.Merge(alert)
	}
	return alert
}

func toAM(a *Alert) *amalert.Alert {
	return amalert.New(model.Alert{
		Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: a.EndsAt,
		GeneratorURL: a.GeneratorURL,
	}, a.UpdatedAt, a.Timeout)
}

func TestMerge(t *testing.T) {
	// Alertmanager's Merge decides "resolved" by the wall clock; the
	// younger alert was received now, so the two agree as long as no end
	// lies within a few milliseconds of now.
	now := time.Now()
	m := time.Minute
	type span struct {
		start, end time.Duration // from now
		timeout    bool
	}
	mk := func(s span, updated time.Time, annotation string) *Alert {
		a := &Alert{
			Labels:       lset("alertname", "A"),
			Annotations:  lset("summary", annotation),
			StartsAt:     now.Add(s.start),
			EndsAt:       now.Add(s.end),
			GeneratorURL: "http://" + annotation,
			UpdatedAt:    updated,
			Timeout:      s.timeout,
		}
		a.fp = a.Labels.Fingerprint()
		return a
	}
	cases := []struct {
		name     string
		old, new span
		want     span // start, end, and the result's Timeout flag
	}{
		{"both timeout, overlapping", span{-2 * m, 2 * m, true}, span{-m, 3 * m, true}, span{-2 * m, 3 * m, true}},
		{"old timeout, new explicit earlier end", span{-m, 3 * m, true}, span{0, 2 * m, false}, span{-m, 2 * m, false}},
		{"old explicit later end wins over new timeout", span{-m, 3 * m, false}, span{0, 2 * m, true}, span{-m, 3 * m, true}},
		{"both explicit firing, later end wins", span{-m, 3 * m, false}, span{0, 2 * m, false}, span{-m, 3 * m, false}},
		{"same start, later end: no overlap, new wins", span{-m, 3 * m, false}, span{-m, 4 * m, false}, span{-m, 4 * m, false}},
		{"old resolved, new fires within its range", span{-3 * m, -m, false}, span{-2 * m, m, false}, span{-3 * m, m, false}},
		{"new resolves a firing alert", span{-2 * m, 3 * m, false}, span{-2 * m, -10 * time.Second, false}, span{-2 * m, -10 * time.Second, false}},
		{"new resolves a timeout alert", span{-2 * m, 3 * m, true}, span{-m, -10 * time.Second, false}, span{-2 * m, -10 * time.Second, false}},
		{"both resolved, latest end wins", span{-3 * m, -m, false}, span{-4 * m, -2 * m, false}, span{-4 * m, -m, false}},
		{"fires again after the old one ended: new start", span{-10 * m, -5 * m, false}, span{-m, 3 * m, true}, span{-m, 3 * m, true}},
		{"timed out, then fires again within range", span{-10 * m, -5 * m, true}, span{-6 * m, m, false}, span{-10 * m, m, false}},
		{"identical", span{-m, 3 * m, false}, span{-m, 3 * m, false}, span{-m, 3 * m, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old := mk(c.old, now.Add(-m), "old")
			nw := mk(c.new, now, "new")
			got := merge(old, nw)

			require.Equal(t, now.Add(c.want.start), got.StartsAt, "StartsAt")
			require.Equal(t, now.Add(c.want.end), got.EndsAt, "EndsAt")
			require.Equal(t, c.want.timeout, got.Timeout, "Timeout")
			// The younger alert's other fields win.
			require.Equal(t, nw.Annotations, got.Annotations)
			require.Equal(t, nw.GeneratorURL, got.GeneratorURL)
			require.Equal(t, nw.UpdatedAt, got.UpdatedAt)
			require.Equal(t, nw.Labels.Fingerprint(), got.Fingerprint())
			// The inputs are not modified.
			require.Equal(t, mk(c.old, now.Add(-m), "old"), old)
			require.Equal(t, mk(c.new, now, "new"), nw)

			// Alertmanager (mem.Alerts.Put + Alert.Merge) agrees.
			am := amMergeInPut(toAM(old), toAM(nw))
			require.Equal(t, am.StartsAt, got.StartsAt, "Alertmanager StartsAt")
			require.Equal(t, am.EndsAt, got.EndsAt, "Alertmanager EndsAt")
			require.Equal(t, am.Timeout, got.Timeout, "Alertmanager Timeout")
			require.Equal(t, am.UpdatedAt, got.UpdatedAt)
		})
	}
}

func TestMergeOrderIndependent(t *testing.T) {
	// Where the ranges overlap both ways, the result depends only on which
	// alert is younger (UpdatedAt), not on which was stored first, as
	// Alertmanager's Merge (a.Merge(b) == b.Merge(a)).
	now := time.Now()
	m := time.Minute
	mk := func(start, end time.Duration, updated time.Time, timeout bool) *Alert {
		a := &Alert{Labels: lset("alertname", "A"), StartsAt: now.Add(start), EndsAt: now.Add(end), UpdatedAt: updated, Timeout: timeout}
		a.fp = a.Labels.Fingerprint()
		return a
	}
	pairs := []struct{ older, younger *Alert }{
		{mk(-2*m, 3*m, now.Add(-m), true), mk(-m, 5*m, now, true)},
		{mk(-2*m, 3*m, now.Add(-m), false), mk(-m, 5*m, now, true)},
		{mk(-m, 5*m, now.Add(-m), false), mk(-2*m, 3*m, now, true)},
		{mk(-m, 5*m, now.Add(-m), false), mk(-2*m, 3*m, now, false)},
		{mk(-3*m, -m, now.Add(-m), false), mk(-2*m, -30*time.Second, now, false)},
	}
	for i, p := range pairs {
		a, b := merge(p.older, p.younger), merge(p.younger, p.older)
		require.Equal(t, a, b, "pair %d", i)
		am := toAM(p.older).Merge(toAM(p.younger))
		require.Equal(t, am.StartsAt, a.StartsAt, "pair %d", i)
		require.Equal(t, am.EndsAt, a.EndsAt, "pair %d", i)
		require.Equal(t, am.Timeout, a.Timeout, "pair %d", i)
		require.Equal(t, p.younger.UpdatedAt, a.UpdatedAt, "pair %d", i)
	}
}

func TestPrepare(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	start := now.Add(-time.Hour)
	end := now.Add(time.Hour)
	const rt = 5 * time.Minute
	f := func(in Alert, wantStart, wantEnd time.Time, wantTimeout bool) {
		t.Helper()
		a := in
		a.prepare(now, rt)
		require.Equal(t, wantStart, a.StartsAt, "StartsAt")
		require.Equal(t, wantEnd, a.EndsAt, "EndsAt")
		require.Equal(t, wantTimeout, a.Timeout, "Timeout")
		require.Equal(t, now, a.UpdatedAt)
		require.Equal(t, a.Labels.Fingerprint(), a.Fingerprint())
	}
	ls := lset("alertname", "A", "instance", "i")
	f(Alert{Labels: ls}, now, now.Add(rt), true)
	f(Alert{Labels: ls, EndsAt: end}, end, end, false)
	f(Alert{Labels: ls, StartsAt: start}, start, now.Add(rt), true)
	f(Alert{Labels: ls, StartsAt: start, EndsAt: end}, start, end, false)
	// An alert sent resolved without a start starts when it ended.
	f(Alert{Labels: ls, EndsAt: now.Add(-time.Minute)}, now.Add(-time.Minute), now.Add(-time.Minute), false)
	// A zero resolve timeout resolves a timeout alert at once.
	a := Alert{Labels: ls, StartsAt: start}
	a.prepare(now, 0)
	require.True(t, a.ResolvedAt(now))
}

func TestResolvedAt(t *testing.T) {
	now := time.Now()
	require.False(t, (&Alert{}).ResolvedAt(now), "no end: firing")
	require.True(t, (&Alert{EndsAt: now}).ResolvedAt(now), "ends now: resolved, as model.Alert.ResolvedAt")
	require.True(t, (&Alert{EndsAt: now.Add(-time.Nanosecond)}).ResolvedAt(now))
	require.False(t, (&Alert{EndsAt: now.Add(time.Nanosecond)}).ResolvedAt(now))
}

func TestValidate(t *testing.T) {
	now := time.Now()
	f := func(a Alert, wantErr string) {
		t.Helper()
		err := a.Validate()
		// Alertmanager validates the same alert the same way.
		amErr := amalert.Validate(&model.Alert{Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: nonZero(a.StartsAt, now), EndsAt: a.EndsAt})
		if wantErr == "" {
			require.NoError(t, err)
			require.NoError(t, amErr)
			return
		}
		require.ErrorContains(t, err, wantErr)
		require.ErrorContains(t, amErr, wantErr)
	}
	ok := lset("alertname", "A")
	f(Alert{Labels: ok}, "")
	f(Alert{Labels: ok, StartsAt: now, EndsAt: now}, "")
	f(Alert{Labels: ok, StartsAt: now, EndsAt: now.Add(time.Second)}, "")
	f(Alert{Labels: ok, Annotations: lset("summary", "x")}, "")
	f(Alert{}, "at least one label pair required")
	f(Alert{Labels: model.LabelSet{}}, "at least one label pair required")
	f(Alert{Labels: lset("", "x")}, "invalid label set")
	f(Alert{Labels: lset("alertname", "A", "bad\xffname", "x")}, "invalid label set")
	f(Alert{Labels: lset("alertname", "bad\xffvalue")}, "invalid label set")
	f(Alert{Labels: ok, Annotations: lset("", "x")}, "invalid annotations")
	f(Alert{Labels: ok, Annotations: lset("summary", "\xff")}, "invalid annotations")
	f(Alert{Labels: ok, StartsAt: now, EndsAt: now.Add(-time.Second)}, "start time must be before end time")
}

func TestValidateUTF8Names(t *testing.T) {
	// Alertmanager's default (UTF-8) mode accepts any UTF-8 label name;
	// the classic mode does not, but it is not the default.
	a := Alert{Labels: lset("alertname", "A", "service.name", "x", "ünïcode", "y")}
	require.NoError(t, a.Validate())
}

func nonZero(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}
