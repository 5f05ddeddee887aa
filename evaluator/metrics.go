package evaluator

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the evaluator's metrics. They are created once per process
// and outlive reloads; series of removed groups are deleted.
type Metrics struct {
	evaluations        *prometheus.CounterVec
	evalFailures       *prometheus.CounterVec
	iterations         *prometheus.CounterVec
	iterationsMissed   *prometheus.CounterVec
	lastDuration       *prometheus.GaugeVec
	lastEvaluation     *prometheus.GaugeVec
	interval           *prometheus.GaugeVec
	groupRules         *prometheus.GaugeVec
	evalDuration       prometheus.Histogram
	alertsSent         prometheus.Counter
	stateWrites        prometheus.Counter
	stateWriteFailures prometheus.Counter
}

// NewMetrics creates the evaluator's metrics and registers them with reg
// (which may be nil in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	group := []string{"rule_group"}
	m := &Metrics{
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_rule_evaluations_total", Help: "Rule evaluations.",
		}, group),
		evalFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_rule_evaluation_failures_total", Help: "Rule evaluations that failed.",
		}, group),
		iterations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_rule_group_iterations_total", Help: "Scheduled evaluations of rule groups, run or missed.",
		}, group),
		iterationsMissed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_rule_group_iterations_missed_total", Help: "Scheduled evaluations of rule groups skipped because the previous one was late.",
		}, group),
		lastDuration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "alerter_rule_group_last_duration_seconds", Help: "How long the last evaluation of a rule group took.",
		}, group),
		lastEvaluation: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "alerter_rule_group_last_evaluation_timestamp_seconds", Help: "The evaluation time of a rule group's last evaluation.",
		}, group),
		interval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "alerter_rule_group_interval_seconds", Help: "A rule group's interval (for a cron schedule: between its next two runs).",
		}, group),
		groupRules: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "alerter_rule_group_rules", Help: "Rules in a rule group.",
		}, group),
		evalDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "alerter_rule_evaluation_duration_seconds", Help: "How long one rule evaluation took, query included.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		alertsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alerter_evaluator_alerts_sent_total", Help: "Alerts handed on for notification (firing and resolved, resends included).",
		}),
		stateWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alerter_evaluator_state_writes_total", Help: "Transactions that saved a group's alert states.",
		}),
		stateWriteFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alerter_evaluator_state_write_failures_total", Help: "Failed attempts to save a group's alert states.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.evaluations, m.evalFailures, m.iterations, m.iterationsMissed, m.lastDuration,
			m.lastEvaluation, m.interval, m.groupRules, m.evalDuration, m.alertsSent, m.stateWrites, m.stateWriteFailures)
	}
	return m
}

// forget deletes the series of a removed group.
func (m *Metrics) forget(key string) {
	for _, v := range []*prometheus.CounterVec{m.evaluations, m.evalFailures, m.iterations, m.iterationsMissed} {
		v.DeleteLabelValues(key)
	}
	for _, v := range []*prometheus.GaugeVec{m.lastDuration, m.lastEvaluation, m.interval, m.groupRules} {
		v.DeleteLabelValues(key)
	}
}
