package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// The tests below run the TSDB inside a synctest bubble: its background
// goroutines start in the bubble and end with Close, and its file I/O just
// runs, so the fake clock drives Run and the TSDB alike.

// running starts db.Run in the bubble and returns a func that stops it and
// closes db.
func running(t *testing.T, db *DB) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
		require.NoError(t, db.Close())
	}
}

// queryOne runs expr at ts and returns the value of its only sample.
func queryOne(t *testing.T, db *DB, expr string, ts time.Time) float64 {
	t.Helper()
	v, err := db.Query(t.Context(), expr, ts)
	require.NoError(t, err)
	require.Len(t, v, 1, "%s at %s: %v", expr, ts, v)
	return v[0].F
}

func TestReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "series.yml")
		require.NoError(t, os.WriteFile(path, []byte(`
interval: 10s
input_series:
  - series: 'cpu{instance="a"}'
    values: '0+1x3 _ 10 stale'
  - series: 'mem{instance="a"}'
    values: '7'
`), 0o600))
		db, err := Open(Options{Dir: t.TempDir(), SeriesFiles: []string{path}})
		require.NoError(t, err)
		start := time.Now()
		stop := running(t, db)
		defer stop()
		at := func(k int) time.Time { return start.Add(time.Duration(k) * 10 * time.Second) }

		// At start+k*interval, value k is there and value k+1 is not.
		for k, want := range []float64{0, 1, 2, 3} {
			time.Sleep(time.Until(at(k)))
			synctest.Wait()
			require.InDelta(t, want, queryOne(t, db, "cpu", at(k)), 0, "value %d", k)
			require.InDelta(t, want, queryOne(t, db, "cpu", at(k+1)), 0, "value %d seen before its time", k+1)
		}
		require.InDelta(t, 7, queryOne(t, db, "mem", at(3)), 0)

		// Value 4 is omitted: the lookback still finds value 3.
		time.Sleep(time.Until(at(4)))
		synctest.Wait()
		require.InDelta(t, 3, queryOne(t, db, "cpu", at(4)), 0)
		require.InDelta(t, 4, queryOne(t, db, "count_over_time(cpu[2m])", at(4)), 0)

		time.Sleep(time.Until(at(5)))
		synctest.Wait()
		require.InDelta(t, 10, queryOne(t, db, "cpu", at(5)), 0)

		// The stale marker ends the series at once.
		time.Sleep(time.Until(at(6)))
		synctest.Wait()
		v, err := db.Query(t.Context(), "cpu", at(6))
		require.NoError(t, err)
		require.Empty(t, v)
		require.InDelta(t, 5, queryOne(t, db, "count_over_time(cpu[2m])", at(6)), 0)
	})
}

// testRegistry holds a counter, a gauge, a histogram and a counter whose
// exposed job label clashes with the target's.
func testRegistry(t *testing.T) (*prometheus.Registry, prometheus.Counter) {
	t.Helper()
	reg := prometheus.NewRegistry()
	events := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_events_total", Help: "Events."})
	temp := prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_temperature_celsius", Help: "Temperature."})
	lat := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "test_latency_seconds", Help: "Latency.", Buckets: []float64{0.1, 1, 10},
	})
	exposed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_jobs_total", Help: "Jobs."}, []string{"job"})
	reg.MustRegister(events, temp, lat, exposed)
	events.Add(3)
	temp.Set(21.5)
	for _, v := range []float64{0.05, 0.5, 0.5, 5} {
		lat.Observe(v)
	}
	exposed.WithLabelValues("backup").Inc()
	return reg, events
}

func TestSelfMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, events := testRegistry(t)
		db, err := Open(Options{
			Dir:        t.TempDir(),
			Gatherer:   reg,
			Registerer: reg,
			SelfLabels: map[string]string{"job": "alerter", "instance": "host:9095", "empty": ""},
		})
		require.NoError(t, err)
		stop := running(t, db)
		defer stop()

		// The first gather happens at once.
		synctest.Wait()
		now := time.Now()
		require.InDelta(t, 3, queryOne(t, db, `test_events_total{job="alerter", instance="host:9095"}`, now), 0)
		require.InDelta(t, 21.5, queryOne(t, db, `test_temperature_celsius{job="alerter"}`, now), 0)
		require.InDelta(t, 1, queryOne(t, db, `up{job="alerter", instance="host:9095"}`, now), 0)
		require.InDelta(t, 1, queryOne(t, db, `test_jobs_total{job="alerter", exported_job="backup"}`, now), 0)
		// Buckets (le normalised as Prometheus 3 stores them), _sum and _count.
		require.InDelta(t, 3, queryOne(t, db, `test_latency_seconds_bucket{le="1.0"}`, now), 0)
		require.InDelta(t, 4, queryOne(t, db, `test_latency_seconds_count`, now), 0)
		require.InDelta(t, 6.05, queryOne(t, db, `test_latency_seconds_sum`, now), 1e-9)
		// Rank 2 of 4 falls in (0.1, 1] holding observations 2 and 3.
		require.InDelta(t, 0.55, queryOne(t, db, `histogram_quantile(0.5, test_latency_seconds_bucket)`, now), 1e-9)
		v, err := db.Query(t.Context(), `{empty!=""}`, now)
		require.NoError(t, err)
		require.Empty(t, v, "empty self labels are dropped")

		// The next gather comes ScrapeInterval later.
		events.Add(2)
		time.Sleep(DefaultScrapeInterval)
		synctest.Wait()
		now = time.Now()
		require.InDelta(t, 5, queryOne(t, db, `test_events_total`, now), 0)
		require.InDelta(t, 2, queryOne(t, db, `idelta(test_events_total[1m])`, now), 0)
	})
}

func TestSelfMetricsGatherFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fail atomic.Bool
		fail.Store(true)
		g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
			if fail.Load() {
				return nil, errors.New("boom")
			}
			return nil, nil
		})
		db, err := Open(Options{Dir: t.TempDir(), Gatherer: g, ScrapeInterval: time.Minute, SelfLabels: map[string]string{"job": "alerter"}})
		require.NoError(t, err)
		stop := running(t, db)
		defer stop()

		synctest.Wait()
		require.InDelta(t, 0, queryOne(t, db, `up{job="alerter"}`, time.Now()), 0)
		fail.Store(false)
		time.Sleep(time.Minute)
		synctest.Wait()
		require.InDelta(t, 1, queryOne(t, db, `up{job="alerter"}`, time.Now()), 0)
	})
}

func TestRunWithoutFeeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, err := Open(Options{Dir: t.TempDir()})
		require.NoError(t, err)
		stop := running(t, db)
		time.Sleep(time.Hour)
		synctest.Wait()
		v, err := db.Query(t.Context(), "up", time.Now())
		require.NoError(t, err)
		require.Empty(t, v)
		stop()
	})
}

func TestReplayHistogram(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, err := Open(Options{Dir: t.TempDir(), SeriesFiles: []string{"testdata/default_interval.good.yml"}})
		require.NoError(t, err)
		stop := running(t, db)
		defer stop()
		synctest.Wait()
		require.InDelta(t, 4, queryOne(t, db, `histogram_count(latency_seconds)`, time.Now()), 0)
		require.InDelta(t, 5, queryOne(t, db, `queue_length`, time.Now()), 0)
	})
}
