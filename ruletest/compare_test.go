package ruletest

import (
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

func TestEqualAlertsIgnoresOrder(t *testing.T) {
	a := firingAlert{Labels: labels.FromStrings("alertname", "A", "job", "a"), Annotations: labels.FromStrings("s", "1")}
	b := firingAlert{Labels: labels.FromStrings("alertname", "A", "job", "b")}
	require.True(t, equalAlerts([]firingAlert{a, b}, []firingAlert{b, a}))
	require.True(t, equalAlerts(nil, []firingAlert{}))
	require.False(t, equalAlerts([]firingAlert{a}, []firingAlert{a, a}), "duplicates count")
	c := a
	c.Annotations = labels.FromStrings("s", "2")
	require.False(t, equalAlerts([]firingAlert{a, b}, []firingAlert{b, c}))
	require.Empty(t, diffAlerts([]firingAlert{a, b}, []firingAlert{b, a}, ""))
	require.Equal(t, "~ {alertname=\"A\", job=\"a\"}\n    annotations:\n      - s=\"1\"\n      + s=\"2\"",
		diffAlerts([]firingAlert{a, b}, []firingAlert{b, c}, ""))
}

func TestEqualSamples(t *testing.T) {
	s := func(v float64, kv ...string) sample { return sample{Labels: labels.FromStrings(kv...), Value: v} }
	require.True(t, equalSamples([]sample{s(1, "a", "1"), s(2, "a", "2")}, []sample{s(2, "a", "2"), s(1, "a", "1")}, false))
	require.False(t, equalSamples([]sample{s(1, "a", "1")}, []sample{s(1, "a", "2")}, false))
	require.False(t, equalSamples([]sample{s(math.NaN())}, []sample{s(math.NaN())}, false), "NaN equals nothing, as in promtool")
	next := math.Nextafter(3, 4)
	require.False(t, equalSamples([]sample{s(3)}, []sample{s(next)}, false))
	require.True(t, equalSamples([]sample{s(3)}, []sample{s(next)}, true), "fuzzy_compare allows one unit in the last place")
	require.False(t, equalSamples([]sample{s(3)}, []sample{s(math.Nextafter(next, 4))}, true))
	h := sample{Labels: labels.EmptyLabels(), Histogram: "{{count:1}}"}
	require.False(t, equalSamples([]sample{h}, []sample{s(0)}, false))
	require.Equal(t, "- {} {{count:1}}\n+ {} 0", diffSamples([]sample{h}, []sample{s(0)}, false, ""))
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 1704067200: "1704067200", 2.9999999999999996: "2.9999999999999996", 1e-5: "1e-05",
		1e22: "1e+22", math.Inf(-1): "-Inf", 0.25: "0.25",
	} {
		require.Equal(t, want, formatValue(v))
	}
}
