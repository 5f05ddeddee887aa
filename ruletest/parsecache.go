package ruletest

import (
	"slices"
	"sync"

	"github.com/prometheus/prometheus/promql/parser"
)

// cachingParser is a PromQL parser that parses each expression once. A
// rule test queries the same few expressions at every evaluation step, up
// to tens of thousands of times, and parsing (label regexps compiled
// included) is a third of the cost of a cheap query.
//
// The engine changes the tree it is given (it wraps step-invariant parts,
// resolves @ start() and end(), attaches the selected series), so the
// cache keeps a pristine tree and hands out copies. Copies share what the
// engine only reads: label matchers (with their compiled regexps),
// function definitions and vector matching. A node type the copier does
// not know is parsed afresh each time.
type cachingParser struct {
	parser.Parser

	mu    sync.Mutex
	exprs map[string]parser.Expr
}

func newCachingParser(p parser.Parser) *cachingParser {
	return &cachingParser{Parser: p, exprs: map[string]parser.Expr{}}
}

// ParseExpr returns a copy of the cached tree of input, parsing it the
// first time. Errors are not cached.
func (p *cachingParser) ParseExpr(input string) (parser.Expr, error) {
	p.mu.Lock()
	pristine, ok := p.exprs[input]
	p.mu.Unlock()
	if !ok {
		e, err := p.Parser.ParseExpr(input)
		if err != nil {
			return nil, err
		}
		pristine = e
		p.mu.Lock()
		p.exprs[input] = e
		p.mu.Unlock()
	}
	if c, ok := cloneExpr(pristine); ok {
		return c, nil
	}
	return p.Parser.ParseExpr(input)
}

// cloneExpr copies an expression tree node by node, or reports false when
// it meets a node type it does not know.
func cloneExpr(e parser.Expr) (parser.Expr, bool) {
	ok := true
	var clone func(parser.Expr) parser.Expr
	clone = func(e parser.Expr) parser.Expr {
		switch n := e.(type) {
		case nil:
			return nil
		case *parser.AggregateExpr:
			c := *n
			c.Expr, c.Param = clone(n.Expr), clone(n.Param)
			c.Grouping = slices.Clone(n.Grouping)
			return &c
		case *parser.BinaryExpr:
			c := *n
			c.LHS, c.RHS = clone(n.LHS), clone(n.RHS)
			return &c
		case *parser.Call:
			c := *n
			c.Args = make(parser.Expressions, len(n.Args))
			for i, a := range n.Args {
				c.Args[i] = clone(a)
			}
			return &c
		case *parser.MatrixSelector:
			c := *n
			c.VectorSelector = clone(n.VectorSelector)
			c.RangeExpr = cloneDuration(n.RangeExpr, clone)
			return &c
		case *parser.SubqueryExpr:
			c := *n
			c.Expr = clone(n.Expr)
			c.RangeExpr = cloneDuration(n.RangeExpr, clone)
			c.OriginalOffsetExpr = cloneDuration(n.OriginalOffsetExpr, clone)
			c.StepExpr = cloneDuration(n.StepExpr, clone)
			return &c
		case *parser.VectorSelector:
			c := *n
			c.LabelMatchers = slices.Clone(n.LabelMatchers)
			c.OriginalOffsetExpr = cloneDuration(n.OriginalOffsetExpr, clone)
			c.UnexpandedSeriesSet, c.Series = nil, nil
			return &c
		case *parser.NumberLiteral:
			c := *n
			return &c
		case *parser.StringLiteral:
			c := *n
			return &c
		case *parser.ParenExpr:
			c := *n
			c.Expr = clone(n.Expr)
			return &c
		case *parser.UnaryExpr:
			c := *n
			c.Expr = clone(n.Expr)
			return &c
		case *parser.StepInvariantExpr:
			c := *n
			c.Expr = clone(n.Expr)
			return &c
		case *parser.DurationExpr:
			return cloneDuration(n, clone)
		default:
			ok = false
			return e
		}
	}
	c := clone(e)
	return c, ok
}

// cloneDuration copies a duration expression (nil stays nil).
func cloneDuration(d *parser.DurationExpr, clone func(parser.Expr) parser.Expr) *parser.DurationExpr {
	if d == nil {
		return nil
	}
	c := *d
	c.LHS, c.RHS = clone(d.LHS), clone(d.RHS)
	return &c
}
