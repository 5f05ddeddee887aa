package evaluator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

var errDuplicateRecordedLabelSet = errors.New("vector contains metrics with the same labelset after applying rule labels")

// RecordingRule records the result of an expression as a new series. It is
// evaluated only on datasources that can store samples.
type RecordingRule struct {
	name   string
	expr   string
	labels labels.Labels
	status ruleStatus
}

// NewRecordingRule returns a recording rule writing metric name.
func NewRecordingRule(name, expr string, lbls labels.Labels) *RecordingRule {
	return &RecordingRule{name: name, expr: expr, labels: lbls}
}

// Name returns the recorded metric name.
func (r *RecordingRule) Name() string { return r.name }

// eval queries the expression at ts and returns the samples to record, as
// Prometheus' RecordingRule.Eval does.
func (r *RecordingRule) eval(ctx context.Context, ts time.Time, env *evalEnv) (promql.Vector, int, error) {
	at := ts.Add(-env.queryOffset)
	vec, err := env.querier.Query(ctx, r.expr, at)
	if err != nil {
		return nil, 0, err
	}
	lb := labels.NewBuilder(labels.EmptyLabels())
	for i := range vec {
		s := &vec[i]
		lb.Reset(s.Metric)
		lb.Set(model.MetricNameLabel, r.name)
		r.labels.Range(func(l labels.Label) { lb.Set(l.Name, l.Value) })
		s.Metric = lb.Labels()
		s.T = at.UnixMilli()
	}
	if vec.ContainsSameLabelset() {
		return nil, len(vec), errDuplicateRecordedLabelSet
	}
	if env.limit > 0 && len(vec) > env.limit {
		return nil, len(vec), fmt.Errorf("exceeded limit of %d with %d series", env.limit, len(vec))
	}
	return vec, len(vec), nil
}
