package dispatch

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, *Batch) (bool, error) { return false, nil }

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
