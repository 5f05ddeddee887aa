package dispatch

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the dispatcher's counters; one set is shared by the
// dispatchers that reloads create.
type Metrics struct {
	received      prometheus.Counter
	notifications *prometheus.CounterVec
	failed        *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	// refused counts alerts the store refused and alerts the dispatcher
	// did not group, by reason.
	refused   *prometheus.CounterVec
	ungrouped *prometheus.CounterVec
}

// NewMetrics registers the dispatch metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alerter_dispatch_alerts_received_total",
			Help: "Alerts received by the dispatcher, from rules and from the API.",
		}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_notifications_total",
			Help: "Notifications attempted, per receiver and integration.",
		}, []string{"receiver", "integration"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_notifications_failed_total",
			Help: "Notifications that failed after their retries, per receiver, integration and reason.",
		}, []string{"receiver", "integration", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alerter_notification_latency_seconds",
			Help:    "Time to deliver a notification, retries included.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"integration"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_alerts_rejected_total",
			Help: "New alerts refused because the store holds its limit, by reason (alerts_limit, per_alertname_limit).",
		}, []string{"reason"}),
		ungrouped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_dispatch_alerts_not_grouped_total",
			Help: "Alerts kept out of an aggregation group by a limit, by reason (aggregation_groups_limit, alerts_per_group_limit).",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.received, m.notifications, m.failed, m.latency, m.refused, m.ungrouped)
	}
	return m
}

func (m *Metrics) rejected(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) notGrouped(reason string) {
	if m != nil {
		m.ungrouped.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) observeNotification(receiver, integration string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.notifications.WithLabelValues(receiver, integration).Inc()
	if err != nil {
		m.failed.WithLabelValues(receiver, integration, FailureReason(err)).Inc()
	}
	m.latency.WithLabelValues(integration).Observe(d.Seconds())
}
