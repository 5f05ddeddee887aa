package embedded

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/stretchr/testify/require"
)

func TestParseTestSeries(t *testing.T) {
	series, err := ParseTestSeries([]TestSeries{
		{Series: `up{job="a"}`, Values: "1+1x2 _ stale"},
		{Series: `down`, Values: "0 0"},
		{Series: `up{job="a"}`, Values: "7"}, // redefined: the last one wins
	})
	require.NoError(t, err)
	require.Len(t, series, 2)
	require.Equal(t, labels.FromStrings("__name__", "up", "job", "a"), series[0].Labels)
	require.Len(t, series[0].Values, 1)
	require.Equal(t, 7.0, series[0].Values[0].Value)
	require.Equal(t, 3, series[0].Line)

	// An empty line (or a comment) ends the input, as in promtool.
	series, err = ParseTestSeries([]TestSeries{{Series: "a", Values: "1"}, {Series: "# b", Values: "2"}, {Series: "c", Values: "3"}})
	require.NoError(t, err)
	require.Len(t, series, 1)

	// Errors carry promtool's line numbers: the load command is line 1.
	_, err = ParseTestSeries([]TestSeries{{Series: "a", Values: "1"}, {Series: `b{x="1" 0`, Values: "1"}})
	require.ErrorContains(t, err, "3:")
	require.ErrorContains(t, err, "parse error")
}

func TestTestLoader(t *testing.T) {
	series, err := ParseTestSeries([]TestSeries{{Series: "m", Values: "1 _ 3 stale"}})
	require.NoError(t, err)
	start := time.Unix(100, 0)
	l := NewTestLoader(series, start, time.Minute)
	require.Empty(t, l.Till(start.Add(-time.Second)))
	got := l.Till(start.Add(90 * time.Second))
	require.Len(t, got, 1, "the omitted value is skipped")
	require.Equal(t, start.UnixMilli(), got[0].T)
	got = l.Till(start.Add(time.Hour))
	require.Len(t, got, 2)
	require.Equal(t, 3.0, got[0].F)
	require.Equal(t, start.Add(2*time.Minute).UnixMilli(), got[0].T)
	require.True(t, value.IsStaleNaN(got[1].F))
	require.True(t, math.IsNaN(got[1].F))
	require.Empty(t, l.Till(start.Add(2*time.Hour)))
}
