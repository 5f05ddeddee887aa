package ruletest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/rules"
)

func TestStepCacheCacheable(t *testing.T) {
	files := []*rules.File{{Groups: []rules.RuleGroup{{Rules: []rules.Rule{{Record: "job:up:sum", Expr: "sum(up)"}}}}}}
	q := newStepQuerier(nil, nil, parser.NewParser(parser.Options{}), time.Minute, time.Time{}, files)
	for expr, want := range map[string]bool{
		`up == 0`:                               true,
		`rate(requests_total{job="a"}[5m]) > 1`: true,
		`max_over_time(rate(x[5m])[30m:]) > 5`:  true,
		`up offset 5m`:                          true,
		`time() - 3`:                            true,
		`job:up:sum == 0`:                       false, // written by a rule
		`ALERTS{alertname="Down"}`:              false,
		`absent(ALERTS_FOR_STATE)`:              false,
		`{job="a"}`:                             false, // may match rule output
		`{__name__=~"up|down"}`:                 false,
		`up offset -10m`:                        false, // reads ahead of the loaded input
		`up @ 600`:                              false,
		`max_over_time(up[5m:1m] @ end())`:      false,
		`max_over_time(up[5m:1m] offset -1m)`:   false,
		`sum(`:                                  false,
	} {
		require.Equal(t, want, q.cacheable(expr), expr)
	}
}

// TestStepCacheChangesNothing runs a test whose rules mix expressions that
// are answered from range queries and ones that are not, with and without
// the cache: the outcome must be the same, message for message.
func TestStepCacheChangesNothing(t *testing.T) {
	with := run(t, "stepcache.test.yml", Options{})
	without := run(t, "stepcache.test.yml", Options{noStepCache: true})
	require.Len(t, with.Tests, 1)
	require.Equal(t, without.Tests[0].Failures, with.Tests[0].Failures)
	require.Len(t, with.Tests[0].Failures, 1)
	require.Contains(t, with.Tests[0].Failures[0], "rule: Clash, time: 1h20m, err: found duplicate series")
}

func TestStepCacheAnswersFromRanges(t *testing.T) {
	ctx := context.Background()
	p := parser.NewParser(parser.Options{})
	st, err := openStore(time.Minute, p)
	require.NoError(t, err)
	defer st.Close()
	full, err := openStore(time.Minute, p)
	require.NoError(t, err)
	defer full.Close()
	start := time.Unix(0, 0).UTC()
	end := start.Add(2000 * time.Minute) // more than one chunk
	q := newStepQuerier(st, full, p, time.Minute, end, nil)
	for i := 0; i <= 2000; i += 7 {
		ts := start.Add(time.Duration(i) * time.Minute)
		vec, err := q.Query(ctx, "vector(time())", ts)
		require.NoError(t, err)
		require.Len(t, vec, 1)
		require.Equal(t, float64(ts.Unix()), vec[0].F)
		require.Equal(t, ts.UnixMilli(), vec[0].T)
	}
	require.True(t, q.exprs["vector(time())"].cacheable)

	// A range that fails makes the expression an instant query for good.
	_, err = q.Query(ctx, "up[5m]", start)
	require.ErrorContains(t, err, "rule result is not a vector or scalar")
	require.False(t, q.exprs["up[5m]"].cacheable)

	// Times past the last evaluation or off the steps go to the store.
	vec, err := q.Query(ctx, "vector(time())", start.Add(90*time.Second))
	require.NoError(t, err)
	require.Equal(t, 90.0, vec[0].F)
	q.disable()
	vec, err = q.Query(ctx, "vector(time())", start.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 60.0, vec[0].F)
}
