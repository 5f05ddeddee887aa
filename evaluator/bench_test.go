package evaluator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/alerter/alerter/rules"
)

// BenchmarkAlertingRuleEval is one evaluation of a firing rule with one
// series: the state machine's share of the cost of an evaluation.
func BenchmarkAlertingRuleEval(b *testing.B) {
	templated := labels.FromStrings("summary", "{{ $labels.instance }} is down ({{ $value | humanize }})")
	for _, tc := range []struct {
		name        string
		annotations labels.Labels
		newValue    bool // a new value at each evaluation: no memoized expansion
	}{
		{"plain", labels.FromStrings("summary", "the service is down"), false},
		{"templated", templated, false},
		{"templated-new-value", templated, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v := 0.0
			q := QuerierFunc(func(context.Context, string, time.Time) (promql.Vector, error) {
				if tc.newValue {
					v++
				}
				return promql.Vector{{Metric: labels.FromStrings("__name__", "up", "instance", "a:9100", "job", "node"), F: v}}, nil
			})
			r := NewAlertingRule("InstanceDown", "up == 0", 0, 0, labels.FromStrings("severity", "page"), tc.annotations)
			env := testEnv(q)
			ctx := context.Background()
			b.ReportAllocs()
			ts := t0
			for b.Loop() {
				ts = ts.Add(15 * time.Second)
				if _, _, err := r.eval(ctx, ts, env); err != nil {
					b.Fatal(err)
				}
				r.toSend(ts, time.Minute, ts.Add(4*time.Minute), "", labels.EmptyLabels())
			}
		})
	}
}

// BenchmarkGroupEval evaluates a group of 100 rules, 10 of them firing
// with one series, as in the peer benchmark (no I/O: a fake querier).
func BenchmarkGroupEval(b *testing.B) {
	q := NewFakeQuerier()
	var rs []rules.Rule
	for i := range 100 {
		expr := fmt.Sprintf(`bench_metric{rule="%d"} > 0`, i)
		if i%10 == 0 {
			q.SetVector(expr, promql.Vector{{Metric: labels.FromStrings("__name__", "bench_metric", "rule", fmt.Sprint(i), "instance", "i-0")}})
		}
		rs = append(rs, rules.Rule{Alert: fmt.Sprintf("BenchRule%d", i), Expr: expr})
	}
	store := newMemStore()
	m := NewManager(Options{Store: store, Sink: SinkFunc(func(context.Context, []PostableAlert) {})})
	if err := m.Update(context.Background(), config(q, file("b.yml", rules.RuleGroup{Name: "g", Rules: rs}))); err != nil {
		b.Fatal(err)
	}
	g := groupNamed(m, "b.yml;g")
	ctx := context.Background()
	ts := t0
	b.ReportAllocs()
	for b.Loop() {
		ts = ts.Add(10 * time.Second)
		g.Eval(ctx, ts)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/rule")
}
