package storage

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// dbMetrics measure the database's share of the work: group commits
// (transactions, the writes they carry, how long each took) and failures.
type dbMetrics struct {
	commits       prometheus.Counter
	writes        prometheus.Counter
	failed        prometheus.Counter
	commitSeconds prometheus.Histogram
}

func newDBMetrics(backend string) *dbMetrics {
	l := prometheus.Labels{"backend": backend}
	return &dbMetrics{
		commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "alerter_storage_commits_total",
			Help: "Transactions committed by the group commit.", ConstLabels: l}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{Name: "alerter_storage_writes_total",
			Help: "Writes (silences, notification log entries, alert states, alerts, history batches) carried by those transactions.", ConstLabels: l}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "alerter_storage_commits_failed_total",
			Help: "Group commits that failed: their writes were reported failed to their callers.", ConstLabels: l}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "alerter_storage_commit_seconds",
			Help: "Time to run and commit one group commit's transaction (durable when it ends).", ConstLabels: l,
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}}),
	}
}

func (m *dbMetrics) observe(writes int, took time.Duration, err error) {
	m.commits.Inc()
	m.writes.Add(float64(writes))
	m.commitSeconds.Observe(took.Seconds())
	if err != nil {
		m.failed.Inc()
	}
}

// Collectors returns the database's metrics, for a registry.
func (s *DB) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.commits, s.metrics.writes, s.metrics.failed, s.metrics.commitSeconds}
}
