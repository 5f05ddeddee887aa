package evaluator

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/rules"
)

func TestNewGroupsEvaluatedByHand(t *testing.T) {
	q := NewFakeQuerier()
	up := promql.Vector{{Metric: labels.FromStrings("job", "a"), F: 1}}
	start := time.Unix(0, 0).UTC()
	q.Set("up == 0", func(ts time.Time) (promql.Vector, error) {
		if ts.Before(start.Add(2 * time.Minute)) {
			return up, nil
		}
		return nil, nil
	})
	cfg := config(q,
		file("b.yml", rules.RuleGroup{Name: "second", Rules: []rules.Rule{alertRule("Down", "up == 0", time.Minute)}}),
		file("a.yml", rules.RuleGroup{Name: "first", Rules: []rules.Rule{{Record: "r", Expr: "up"}}}))
	groups, err := NewGroups(cfg, Options{})
	require.NoError(t, err)
	require.Len(t, groups, 2)
	require.Equal(t, "second", groups[0].Name(), "groups come in file order")
	require.Equal(t, "first", groups[1].Name())

	state := func(ts time.Time) AlertState {
		groups[0].Eval(context.Background(), ts)
		rs := groups[0].Status().Rules[0]
		require.Empty(t, rs.LastError)
		if len(rs.Alerts) == 0 {
			return StateUnknown
		}
		return rs.Alerts[0].State
	}
	require.Equal(t, StatePending, state(start))
	require.Equal(t, StateFiring, state(start.Add(time.Minute)))
	require.Equal(t, StateInactive, state(start.Add(2*time.Minute)))

	q.SetError("up == 0", context.DeadlineExceeded)
	groups[0].Eval(context.Background(), start.Add(3*time.Minute))
	require.Equal(t, context.DeadlineExceeded.Error(), groups[0].Status().Rules[0].LastError)
}
