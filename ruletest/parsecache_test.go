package ruletest

import (
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

func TestCachingParserHandsOutCopies(t *testing.T) {
	p := newCachingParser(parser.NewParser(parser.Options{}))
	for _, q := range []string{
		`sum by (job) (rate(http_requests_total{code=~"5.."}[5m] offset 1m)) / on(job) group_left sum(rate(x[5m] @ end()))`,
		`max_over_time((-up)[1h:5m]) > bool 0 and absent(foo{a="b"})`,
		`label_replace(vector(1), "a", "$1", "b", "(.*)") or count_values("v", up) or topk(2, up)`,
		`"text"`,
	} {
		want, err := parser.NewParser(parser.Options{}).ParseExpr(q)
		require.NoError(t, err)
		a, err := p.ParseExpr(q)
		require.NoError(t, err)
		require.Equal(t, want.String(), a.String())

		// Whatever the engine does to one copy, the next one is pristine.
		parser.Inspect(a, func(n parser.Node, _ []parser.Node) error {
			switch n := n.(type) {
			case *parser.VectorSelector:
				n.Name, n.LabelMatchers = "changed", nil
			case *parser.Call:
				n.Args = nil
			case *parser.AggregateExpr:
				n.Grouping = append(n.Grouping[:0], "changed")
			}
			return nil
		})
		b, err := p.ParseExpr(q)
		require.NoError(t, err)
		require.Equal(t, want.String(), b.String())
	}
	_, err := p.ParseExpr("sum(")
	require.Error(t, err)
}
