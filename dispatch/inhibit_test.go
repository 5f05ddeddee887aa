package dispatch

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

// received returns an alert as the store holds it after receiving it at
// now: fingerprinted, with UpdatedAt set.
func received(now, start, end time.Time, kv ...string) *Alert {
	a := &Alert{Labels: lset(kv...), StartsAt: start, EndsAt: end}
	a.prepare(now, 5*time.Minute)
	return a
}

func ruleCfg(source, target labels.Matchers, equal ...model.LabelName) *config.InhibitRule {
	return &config.InhibitRule{SourceMatchers: source, TargetMatchers: target, Equal: equal}
}

func TestInhibitorEqual(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ih := NewInhibitor([]*config.InhibitRule{ruleCfg(
		matchers(t, "alertname", "=", "NodeDown"),
		matchers(t, "severity", "=", "warning"),
		"cluster", "instance",
	)})
	src := received(now, now.Add(-time.Hour), now.Add(time.Hour), "alertname", "NodeDown", "cluster", "c1", "instance", "i1", "severity", "critical")
	ih.observe(src)

	f := func(ls model.LabelSet, want bool) {
		t.Helper()
		fp, got := ih.Inhibited(ls, now)
		require.Equal(t, want, got, "%s", ls)
		if want {
			require.Equal(t, src.Fingerprint(), fp)
		} else {
			require.Zero(t, fp)
		}
	}
	f(lset("alertname", "DiskFull", "severity", "warning", "cluster", "c1", "instance", "i1"), true)
	f(lset("alertname", "DiskFull", "severity", "warning", "cluster", "c1", "instance", "i2"), false)
	f(lset("alertname", "DiskFull", "severity", "warning", "cluster", "c2", "instance", "i1"), false)
	// A missing equal label does not equal a present one.
	f(lset("alertname", "DiskFull", "severity", "warning", "instance", "i1"), false)
	// Not a target.
	f(lset("alertname", "DiskFull", "severity", "critical", "cluster", "c1", "instance", "i1"), false)
	f(lset("alertname", "DiskFull", "cluster", "c1", "instance", "i1"), false)
	// The source does not inhibit itself (it is not a target).
	f(src.Labels, false)
}

func TestInhibitorMissingLabelsOnBothSides(t *testing.T) {
	// Alertmanager compares the values of the equal labels, a missing
	// label being the empty value: two alerts that both lack it are equal.
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ih := NewInhibitor([]*config.InhibitRule{ruleCfg(
		matchers(t, "s", "=", "1"), matchers(t, "t", "=", "1"), "zone", "rack",
	)})
	ih.observe(received(now, now.Add(-time.Hour), now.Add(time.Hour), "s", "1", "rack", "r1"))
	f := func(ls model.LabelSet, want bool) {
		t.Helper()
		_, got := ih.Inhibited(ls, now)
		require.Equal(t, want, got, "%s", ls)
	}
	f(lset("t", "1", "rack", "r1"), true)
	f(lset("t", "1", "rack", "r1", "zone", ""), true)
	f(lset("t", "1", "rack", "r1", "zone", "z"), false)
	f(lset("t", "1"), false)
	f(lset("t", "1", "rack", "r2"), false)

	// Values that would collide if joined naively do not.
	ih2 := NewInhibitor([]*config.InhibitRule{ruleCfg(
		matchers(t, "s", "=", "1"), matchers(t, "t", "=", "1"), "a", "b",
	)})
	ih2.observe(received(now, now.Add(-time.Hour), now.Add(time.Hour), "s", "1", "a", "xy", "b", ""))
	_, got := ih2.Inhibited(lset("t", "1", "a", "x", "b", "y"), now)
	require.False(t, got)
	_, got = ih2.Inhibited(lset("t", "1", "a", "xy"), now)
	require.True(t, got)
}

func TestInhibitorNoEqual(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ih := NewInhibitor([]*config.InhibitRule{ruleCfg(matchers(t, "s", "=", "1"), matchers(t, "t", "=", "1"))})
	_, got := ih.Inhibited(lset("t", "1", "x", "y"), now)
	require.False(t, got, "no source yet")
	ih.observe(received(now, now.Add(-time.Hour), now.Add(time.Hour), "s", "1", "a", "b"))
	_, got = ih.Inhibited(lset("t", "1", "x", "y"), now)
	require.True(t, got)
}

func TestInhibitorSourceResolved(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ih := NewInhibitor([]*config.InhibitRule{ruleCfg(matchers(t, "s", "=", "1"), matchers(t, "t", "=", "1"), "e")})
	target := lset("t", "1", "e", "f")
	// A source that ends in 10 minutes inhibits until then, not after.
	src := received(now, now.Add(-time.Minute), now.Add(10*time.Minute), "s", "1", "e", "f")
	ih.observe(src)
	_, got := ih.Inhibited(target, now)
	require.True(t, got)
	_, got = ih.Inhibited(target, now.Add(10*time.Minute))
	require.False(t, got, "resolved when EndsAt is reached")

	// The source resolved explicitly: no longer inhibits.
	later := now.Add(time.Minute)
	res := received(later, now.Add(-time.Minute), later, "s", "1", "e", "f")
	ih.observe(res)
	_, got = ih.Inhibited(target, later)
	require.False(t, got)
	// A stale copy received earlier does not bring the firing state back.
	ih.observe(src)
	_, got = ih.Inhibited(target, later)
	require.False(t, got)
	// Firing again does.
	again := received(later.Add(time.Minute), later.Add(time.Minute), later.Add(time.Hour), "s", "1", "e", "f")
	ih.observe(again)
	_, got = ih.Inhibited(target, later.Add(time.Minute))
	require.True(t, got)

	// Forgetting the source (store GC) ends the inhibition; forgetting a
	// stale pointer does not.
	ih.forget(res)
	_, got = ih.Inhibited(target, later.Add(time.Minute))
	require.True(t, got)
	ih.forget(again)
	_, got = ih.Inhibited(target, later.Add(time.Minute))
	require.False(t, got)
}

func TestInhibitorSelfAndTwoSided(t *testing.T) {
	// Rule: critical inhibits critical-or-warning in the same cluster. An
	// alert that matches both sides never inhibits itself, nor another
	// alert that matches both sides; it does inhibit a target-only alert.
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ih := NewInhibitor([]*config.InhibitRule{ruleCfg(
		matchers(t, "severity", "=", "critical"),
		matchers(t, "severity", "=~", "critical|warning"),
		"cluster",
	)})
	crit1 := received(now, now.Add(-time.Hour), now.Add(time.Hour), "alertname", "C1", "severity", "critical", "cluster", "c1")
	ih.observe(crit1)
	_, got := ih.Inhibited(crit1.Labels, now)
	require.False(t, got, "an alert never inhibits itself")

	crit2 := received(now, now.Add(-time.Hour), now.Add(time.Hour), "alertname", "C2", "severity", "critical", "cluster", "c1")
	ih.observe(crit2)
	_, got = ih.Inhibited(crit1.Labels, now)
	require.False(t, got, "two-sided alerts do not inhibit each other")
	_, got = ih.Inhibited(crit2.Labels, now)
	require.False(t, got)

	fp, got := ih.Inhibited(lset("alertname", "W", "severity", "warning", "cluster", "c1"), now)
	require.True(t, got)
	require.Contains(t, []model.Fingerprint{crit1.Fingerprint(), crit2.Fingerprint()}, fp)
	_, got = ih.Inhibited(lset("alertname", "W", "severity", "warning", "cluster", "c2"), now)
	require.False(t, got)
}

func TestInhibitorTwoSidedDoesNotShadow(t *testing.T) {
	// Alertmanager's TestInhibitRuleTwoSidedDoesNotShadow: a rule without
	// source matchers (every alert is a source); a target that is also a
	// source is inhibited by a source-only alert even when a two-sided
	// source is indexed under the same equal values.
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ih := NewInhibitor([]*config.InhibitRule{ruleCfg(nil, matchers(t, "severity", "=", "warning"), "cluster")})
	sourceOnly := received(now, now.Add(-time.Hour), now.Add(time.Hour), "alertname", "S1", "cluster", "c1", "severity", "critical")
	twoSided := received(now, now.Add(-time.Hour), now.Add(2*time.Hour), "alertname", "S2", "cluster", "c1", "severity", "warning")
	ih.observe(sourceOnly)
	ih.observe(twoSided)
	for range 20 { // map order must not matter
		fp, got := ih.Inhibited(lset("alertname", "T", "cluster", "c1", "severity", "warning"), now)
		require.True(t, got)
		require.Equal(t, sourceOnly.Fingerprint(), fp)
	}
}

func TestInhibitorMultipleRules(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ih := NewInhibitor([]*config.InhibitRule{
		ruleCfg(matchers(t, "alertname", "=", "ClusterDown"), matchers(t, "severity", "=~", "warning|info"), "cluster"),
		ruleCfg(matchers(t, "alertname", "=", "NodeDown"), matchers(t, "alertname", "!=", "NodeDown"), "instance"),
		ruleCfg(matchers(t, "alertname", "=", "Maintenance"), nil), // everything
	})
	f := func(ls model.LabelSet, want bool) {
		t.Helper()
		_, got := ih.Inhibited(ls, now)
		require.Equal(t, want, got, "%s", ls)
	}
	w := lset("alertname", "HighCPU", "severity", "warning", "cluster", "c1", "instance", "i1")
	c := lset("alertname", "HighCPU", "severity", "critical", "cluster", "c1", "instance", "i1")
	f(w, false)
	ih.observe(received(now, now.Add(-time.Hour), now.Add(time.Hour), "alertname", "NodeDown", "instance", "i1", "cluster", "c9"))
	f(w, true) // second rule
	f(c, true)
	f(lset("alertname", "HighCPU", "severity", "critical", "instance", "i2"), false)
	ih.observe(received(now, now.Add(-time.Hour), now.Add(time.Hour), "alertname", "ClusterDown", "cluster", "c2"))
	f(lset("alertname", "X", "severity", "info", "cluster", "c2"), true) // first rule
	f(lset("alertname", "X", "severity", "critical", "cluster", "c2"), false)
	ih.observe(received(now, now.Add(-time.Hour), now.Add(time.Hour), "alertname", "Maintenance"))
	f(lset("alertname", "X", "severity", "critical", "cluster", "c2"), true) // third rule
	// The Maintenance alert is a target of its own rule and a source: it
	// does not inhibit itself.
	f(lset("alertname", "Maintenance"), false)
}

func TestInhibitorNoRules(t *testing.T) {
	ih := NewInhibitor(nil)
	ih.observe(received(time.Now(), time.Now(), time.Now().Add(time.Hour), "a", "b"))
	_, got := ih.Inhibited(lset("a", "b"), time.Now())
	require.False(t, got)
}

func BenchmarkInhibited(b *testing.B) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var rules []*config.InhibitRule
	for i := range 5 {
		rules = append(rules, ruleCfg(
			matchers(b, "alertname", "=", fmt.Sprintf("Source%d", i), "severity", "=", "critical"),
			matchers(b, "severity", "=~", "warning|info", "team", "=~", fmt.Sprintf("team-%d.*", i)),
			"cluster", "instance",
		))
	}
	ih := NewInhibitor(rules)
	// 10,000 firing sources spread over the rules, clusters and instances.
	for i := range 10_000 {
		ih.observe(received(now, now.Add(-time.Hour), now.Add(time.Hour),
			"alertname", fmt.Sprintf("Source%d", i%5), "severity", "critical",
			"cluster", fmt.Sprintf("c%d", i%50), "instance", fmt.Sprintf("i%d", i/5),
			"job", "node", "team", fmt.Sprintf("team-%d", i%5)))
	}
	// Source 53 is Source3 in cluster c3 on instance i10, team-3.
	targets := map[string]model.LabelSet{
		"inhibited": lset("alertname", "HighCPU", "severity", "warning", "team", "team-3",
			"cluster", "c3", "instance", "i10", "job", "node"),
		"not_inhibited": lset("alertname", "HighCPU", "severity", "warning", "team", "team-3",
			"cluster", "c4", "instance", "nowhere", "job", "node"),
		"not_a_target": lset("alertname", "HighCPU", "severity", "critical", "team", "team-3",
			"cluster", "c3", "instance", "i0", "job", "node"),
	}
	want := map[string]bool{"inhibited": true, "not_inhibited": false, "not_a_target": false}
	for name, ls := range targets {
		_, got := ih.Inhibited(ls, now)
		require.Equal(b, want[name], got, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ih.Inhibited(ls, now)
			}
		})
	}
}
