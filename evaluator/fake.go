package evaluator

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/prometheus/promql"
)

// FakeQuerier is a Querier for tests: it answers each expression with the
// function set for it, and counts queries.
type FakeQuerier struct {
	mu      sync.Mutex
	answers map[string]func(ts time.Time) (promql.Vector, error)
	queries map[string][]time.Time
}

// NewFakeQuerier returns a FakeQuerier that answers every query with an
// empty vector until told otherwise.
func NewFakeQuerier() *FakeQuerier {
	return &FakeQuerier{
		answers: map[string]func(time.Time) (promql.Vector, error){},
		queries: map[string][]time.Time{},
	}
}

// Set makes the querier answer expr with f.
func (q *FakeQuerier) Set(expr string, f func(ts time.Time) (promql.Vector, error)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.answers[expr] = f
}

// SetVector makes the querier answer expr with vec (and no error).
func (q *FakeQuerier) SetVector(expr string, vec promql.Vector) {
	q.Set(expr, func(time.Time) (promql.Vector, error) { return vec, nil })
}

// SetError makes the querier fail every query of expr with err.
func (q *FakeQuerier) SetError(expr string, err error) {
	q.Set(expr, func(time.Time) (promql.Vector, error) { return nil, err })
}

// Query implements Querier.
func (q *FakeQuerier) Query(_ context.Context, expr string, ts time.Time) (promql.Vector, error) {
	q.mu.Lock()
	f := q.answers[expr]
	q.queries[expr] = append(q.queries[expr], ts)
	q.mu.Unlock()
	if f == nil {
		return nil, nil
	}
	vec, err := f(ts)
	// Callers may change the samples they get: hand out a copy.
	return append(promql.Vector(nil), vec...), err
}

// Queries returns the evaluation times at which expr was queried.
func (q *FakeQuerier) Queries(expr string) []time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]time.Time(nil), q.queries[expr]...)
}
