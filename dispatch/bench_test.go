package dispatch

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, *Batch) (bool, error) { return false, nil }

// benchStore returns a store whose dispatcher groups alerts by alertname
// and svc and holds them an hour before notifying a notifier that does
// nothing.
func benchStore(b *testing.B) (*Store, *Dispatcher) {
	nlog, err := NewNotificationLog(context.Background(), nil, time.Hour)
	require.NoError(b, err)
	d, err := NewDispatcher(Options{
		Route: NewRoute(&config.Route{
			Receiver: "r", GroupBy: []model.LabelName{"alertname", "svc"},
			GroupWait: dur(time.Hour), GroupInterval: dur(time.Hour),
		}),
		Receivers: map[string][]Integration{"r": {{Kind: "webhook", Notifier: nopNotifier{}}}},
		Log:       nlog,
		Metrics:   NewMetrics(nil),
	})
	require.NoError(b, err)
	s := NewStore(5*time.Minute, nil)
	s.SetDispatcher(d)
	return s, d
}

// BenchmarkIngest puts batches of 100 alerts (10 labels each) into a store
// whose dispatcher groups them by alertname and svc into 2,000 groups. An
// op is one batch; ns/alert and allocs/alert are per alert.
func BenchmarkIngest(b *testing.B) {
	const (
		names, svcs, instances = 200, 10, 10
		batch                  = 100
	)
	var pool []model.LabelSet
	for i := range instances {
		for s := range svcs {
			for n := range names {
				pool = append(pool, lset(
					"alertname", fmt.Sprintf("Alert%03d", n), "svc", fmt.Sprintf("svc-%d", s),
					"instance", fmt.Sprintf("10.0.%d.%d:9100", s, i), "job", "node", "cluster", "prod-eu-1",
					"region", "eu-west-1", "env", "prod", "team", fmt.Sprintf("team-%d", n%7),
					"severity", []string{"warning", "critical"}[n%2], "pod", fmt.Sprintf("pod-%d-%d", s, i),
				))
			}
		}
	}
	require.Len(b, pool[0], 10)
	s, d := benchStore(b)
	b.Cleanup(func() { s.SetDispatcher(nil); d.Stop() })

	start := time.Now()
	alerts := make([]*Alert, batch)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	next := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range alerts {
			alerts[i] = &Alert{Labels: pool[next], StartsAt: start, EndsAt: start.Add(time.Hour)}
			next = (next + 1) % len(pool)
		}
		require.NoError(b, s.Put(alerts))
	}
	runtime.ReadMemStats(&after)
	perAlert := float64(b.N * batch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/perAlert, "ns/alert")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/perAlert, "allocs/alert")
	if b.N*batch >= len(pool) {
		require.Len(b, d.Groups(), names*svcs)
	}
}

// BenchmarkLiveHeap measures the memory alerter keeps per alert and per
// aggregation group: the live heap after a collection, with alerts whose
// label strings are each their own allocation, as the API's JSON decoder
// makes them (6 labels, as peerbench's ingest). It reports B/alert with 5
// alerts per group, and B/group: what 2,000 groups of one alert keep
// beyond 2,000 alerts in one group. An op puts 10,000 alerts.
func BenchmarkLiveHeap(b *testing.B) {
	measure := func(alerts, groups int) float64 {
		s, d := benchStore(b)
		var before, after runtime.MemStats
		// The previous measurement's dispatcher may take a moment to let
		// go of its groups once stopped.
		for range 3 {
			runtime.GC()
			time.Sleep(20 * time.Millisecond)
		}
		runtime.ReadMemStats(&before)
		start := time.Now()
		for i := 0; i < alerts; i += 100 {
			batch := make([]*Alert, 0, 100)
			for j := i; j < i+100 && j < alerts; j++ {
				// Sprintf and Clone give each string its own allocation.
				batch = append(batch, &Alert{Labels: model.LabelSet{
					model.LabelName(strings.Clone("alertname")): model.LabelValue(strings.Clone("BenchAlert")),
					model.LabelName(strings.Clone("svc")):       model.LabelValue(fmt.Sprintf("s%d", j%groups)),
					model.LabelName(strings.Clone("instance")):  model.LabelValue(fmt.Sprintf("i-%d", j)),
					model.LabelName(strings.Clone("l0")):        model.LabelValue(strings.Clone("v0")),
					model.LabelName(strings.Clone("l1")):        model.LabelValue(strings.Clone("v1")),
					model.LabelName(strings.Clone("l2")):        model.LabelValue(strings.Clone("v2")),
				}, Annotations: model.LabelSet{"bench_sent": model.LabelValue(fmt.Sprint(j))}, StartsAt: start, EndsAt: start.Add(time.Hour)})
			}
			require.NoError(b, s.Put(batch))
		}
		require.Len(b, d.Groups(), groups)
		runtime.GC()
		runtime.ReadMemStats(&after)
		s.SetDispatcher(nil)
		d.Stop()
		runtime.KeepAlive(s)
		return float64(after.HeapAlloc) - float64(before.HeapAlloc)
	}
	var perAlert, perGroup float64
	for b.Loop() {
		perAlert = measure(10000, 2000) / 10000
		perGroup = (measure(2000, 2000) - measure(2000, 1)) / 1999
	}
	b.ReportMetric(perAlert, "B/alert")
	b.ReportMetric(perGroup, "B/group")
}
