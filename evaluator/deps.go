package evaluator

import (
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// ruleDeps returns, for each rule of a group (its expression), the earlier
// rules (their indices) whose series it may read: writes[j] names the
// series rule j writes (a recording rule its record name; an alerting rule
// ALERTS and ALERTS_FOR_STATE, when the datasource stores them). A rule
// depends on those whose names it selects, and on all earlier writers when
// a selector of it names no fixed metric (or names it by a regex) or it
// does not parse. A rule waits for those alone: on a datasource whose
// writes a query sees at once (embedded) it reads what they wrote in this
// evaluation, as in Prometheus; through remote write the endpoint may not
// have it yet (the README says so). Rules that read nothing written before
// them run concurrently.
func ruleDeps(exprs []string, writes [][]string) [][]int {
	deps := make([][]int, len(exprs))
	byName := map[string][]int{}
	var earlier []int // the rules before the current one that write
	for i, expr := range exprs {
		names, any := selectedNames(expr)
		switch {
		case any:
			deps[i] = append([]int(nil), earlier...)
		default:
			seen := map[int]bool{}
			for _, n := range names {
				for _, j := range byName[n] {
					if !seen[j] {
						seen[j] = true
						deps[i] = append(deps[i], j)
					}
				}
			}
		}
		for _, n := range writes[i] {
			byName[n] = append(byName[n], i)
		}
		if len(writes[i]) > 0 {
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
