package evaluator

import (
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// ruleDeps returns, for each rule of a group (its expression), the earlier
// recording rules (their indices) whose series it may read: those whose
// record name it selects, or all of them when a selector of it names no
// metric (or names it by a regex) or it does not parse. A rule waits for
// those alone, so that rules that read nothing recorded before them run
// concurrently, as alerting rules do, while Prometheus' in-order semantics
// hold for those that do.
func ruleDeps(exprs []string, records []string) [][]int {
	deps := make([][]int, len(exprs))
	byName := map[string][]int{}
	var earlier []int // the recording rules before the current one
	for i, expr := range exprs {
		names, any := selectedNames(expr)
		switch {
		case any:
			deps[i] = append([]int(nil), earlier...)
		default:
			for _, n := range names {
				deps[i] = append(deps[i], byName[n]...)
			}
		}
		if records[i] != "" {
			byName[records[i]] = append(byName[records[i]], i)
			earlier = append(earlier, i)
		}
	}
	return deps
}

// exprParser parses rule expressions, as rules' validation does.
var exprParser = parser.NewParser(parser.Options{})

// selectedNames returns the metric names expr selects, or any = true when
// it may select others (a selector without a fixed name, or an
// expression that does not parse).
func selectedNames(expr string) (names []string, any bool) {
	e, err := exprParser.ParseExpr(expr)
	if err != nil {
		return nil, true
	}
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			any = true
		} else {
			names = append(names, name)
		}
		return nil
	})
	return names, any
}
