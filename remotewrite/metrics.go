package remotewrite

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the queues' metrics, named after Prometheus' remote-write
// ones (prometheus_remote_storage_*), labelled by remote (the datasource).
type Metrics struct {
	sent, failed, retried *prometheus.CounterVec
	dropped               *prometheus.CounterVec
	pending, shards       *prometheus.GaugeVec
	highestIn, highestOut *prometheus.GaugeVec
	duration              *prometheus.HistogramVec
}

// NewMetrics registers the metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	remote := []string{"remote"}
	m := &Metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_remote_storage_samples_total",
			Help: "Samples the remote-write endpoint took.",
		}, remote),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_remote_storage_samples_failed_total",
			Help: "Samples of requests that failed (each failed attempt counts them).",
		}, remote),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_remote_storage_samples_retried_total",
			Help: "Samples of failed requests that are tried again (5xx, 429 with retry_on_http_429, no answer).",
		}, remote),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_remote_storage_samples_dropped_total",
			Help: "Samples given up, by reason: queue_full (the queue's capacity or bytes), refused (a 4xx answer), encode, shutdown (still queued when the flush at shutdown ran out of time).",
		}, []string{"remote", "reason"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "alerter_remote_storage_samples_pending",
			Help: "Samples queued or being sent.",
		}, remote),
		shards: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "alerter_remote_storage_shards",
			Help: "Shards sending concurrently.",
		}, remote),
		highestIn: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "alerter_remote_storage_highest_timestamp_in_seconds",
			Help: "Highest timestamp of a sample queued.",
		}, remote),
		highestOut: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "alerter_remote_storage_queue_highest_sent_timestamp_seconds",
			Help: "Highest timestamp of a sample the endpoint took.",
		}, remote),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alerter_remote_storage_sent_batch_duration_seconds",
			Help:    "Time a request to the remote-write endpoint took.",
			Buckets: prometheus.DefBuckets,
		}, remote),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.failed, m.retried, m.dropped, m.pending, m.shards, m.highestIn, m.highestOut, m.duration)
	}
	return m
}

// queueMetrics are one queue's children.
type queueMetrics struct {
	sent, failed, retried  prometheus.Counter
	dropped                *prometheus.CounterVec
	pending, shards        prometheus.Gauge
	highestIn, highestSent *maxGauge
	duration               prometheus.Observer
}

func (m *Metrics) forQueue(name string) queueMetrics {
	for _, r := range []string{"queue_full", "refused", "encode", "shutdown"} {
		m.dropped.WithLabelValues(name, r)
	}
	return queueMetrics{
		sent: m.sent.WithLabelValues(name), failed: m.failed.WithLabelValues(name), retried: m.retried.WithLabelValues(name),
		dropped: m.dropped, pending: m.pending.WithLabelValues(name), shards: m.shards.WithLabelValues(name),
		highestIn: &maxGauge{g: m.highestIn.WithLabelValues(name)}, highestSent: &maxGauge{g: m.highestOut.WithLabelValues(name)},
		duration: m.duration.WithLabelValues(name),
	}
}

// maxGauge holds the highest timestamp (milliseconds) observed, in seconds.
type maxGauge struct {
	mu sync.Mutex
	v  int64
	g  prometheus.Gauge
}

func (m *maxGauge) observe(ms int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms > m.v {
		m.v = ms
		m.g.Set(float64(ms) / 1000)
	}
}
