package dispatch

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

func TestStoreLimits(t *testing.T) {
	now := time.Now()
	s := NewStore(5*time.Minute, func() time.Time { return now })
	m := NewMetrics(prometheus.NewRegistry())
	s.SetLimits(StoreLimits{Alerts: 10, PerAlertName: 4}, m)
	batch := func(name string, from, n int) []*Alert {
		var out []*Alert
		for i := from; i < from+n; i++ {
			out = append(out, firing(now, "alertname", name, "i", fmt.Sprint(i)))
		}
		return out
	}
	require.NoError(t, s.Put(batch("A", 0, 4)))
	err := s.Put(batch("A", 4, 3))
	var le *LimitError
	require.ErrorAs(t, err, &le)
	require.Equal(t, `3 of 3 alerts refused: the store holds its limit of 4 alerts named "A"`, err.Error())
	require.NoError(t, s.Put(batch("B", 0, 4)))
	err = s.Put(append(batch("A", 0, 4), batch("C", 0, 4)...))
	require.EqualError(t, err, "2 of 8 alerts refused: the store holds its limit of 10 alerts", "updates are taken, new alerts up to the limit")
	require.Equal(t, 10, s.Len())
	require.Equal(t, 3.0, testutil.ToFloat64(m.refused.WithLabelValues(RejectPerAlertNameLimit)))
	require.Equal(t, 2.0, testutil.ToFloat64(m.refused.WithLabelValues(RejectAlertsLimit)))

	// Resolved alerts free their places once collected.
	var resolvedA []*Alert
	for _, a := range batch("A", 0, 4) {
		a.EndsAt = now.Add(-time.Second)
		resolvedA = append(resolvedA, a)
	}
	require.NoError(t, s.Put(resolvedA))
	require.Equal(t, 4, s.GC())
	require.NoError(t, s.Put(batch("D", 0, 4)))
	require.Equal(t, 10, s.Len())
}

// TestDispatcherLimits: beyond the aggregation group limit, alerts that
// would make a new group are not grouped; beyond the per-group limit, new
// alerts of a full group are not; both are counted, and the groups within
// the limits notify as usual.
func TestDispatcherLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMetrics(prometheus.NewRegistry())
		e := newEnv(t, &config.Route{
			Receiver: "team", GroupBy: []model.LabelName{"alertname"},
			GroupWait: dur(time.Second), GroupInterval: dur(time.Minute), RepeatInterval: dur(time.Hour),
		}, func(o *Options) { o.MaxGroups, o.MaxAlertsPerGroup, o.Metrics = 3, 2, m })
		now := time.Now()
		for g := range 5 {
			for i := range 3 {
				e.put(firing(now, "alertname", fmt.Sprintf("G%d", g), "instance", fmt.Sprint(i)))
			}
		}
		advance(2 * time.Second)
		require.Len(t, e.disp.Groups(), 3)
		for _, g := range e.disp.Groups() {
			require.Len(t, g.Alerts, 2)
		}
		require.Len(t, e.rec.all(), 3, "the groups within the limits notify")
		require.Equal(t, 6.0, testutil.ToFloat64(m.ungrouped.WithLabelValues(NotGroupedGroupsLimit)))
		require.Equal(t, 3.0, testutil.ToFloat64(m.ungrouped.WithLabelValues(NotGroupedPerGroupLimit)))
	})
}

// TestStartDelayHoldsFirstFlush: with --dispatch.start-delay, no group
// flushes before the delay after the start, even one whose alert started
// long ago; afterwards groups flush as usual.
func TestStartDelayHoldsFirstFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		e := newEnv(t, &config.Route{
			Receiver: "r", GroupBy: []model.LabelName{"alertname"},
			GroupWait: dur(time.Second), GroupInterval: dur(time.Minute), RepeatInterval: dur(time.Hour),
		}, func(o *Options) { o.HoldUntil = start.Add(30 * time.Second) })
		e.put(firing(start.Add(-time.Hour), "alertname", "Old"))
		advance(29 * time.Second)
		require.Empty(t, e.rec.all(), "held until the start delay passed")
		advance(time.Second)
		require.Len(t, e.rec.all(), 1)
		e.put(firing(time.Now(), "alertname", "New"))
		advance(time.Second)
		require.Len(t, e.rec.all(), 2, "after the delay, group_wait as usual")
	})
}
