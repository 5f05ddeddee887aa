package backtest

import (
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// stepTable is a range query's answer turned around: by step instead of by
// series, so that the instant query at each step is answered by copying
// out the samples of that step, whatever the number of series that are
// absent then. It costs 12 bytes a point (a series index and a value),
// less than the matrix it replaces.
type stepTable struct {
	start, step int64 // milliseconds
	steps       int
	series      []labels.Labels
	// offs[k]:offs[k+1] are the samples of step k in idx and vals.
	offs []int
	idx  []int32
	vals []float64
}

// newStepTable indexes m, whose points are at start + k*step for k in
// [0, steps). Points off that grid are dropped; Prometheus puts none there.
func newStepTable(m promql.Matrix, start time.Time, step time.Duration, steps int) *stepTable {
	t := &stepTable{start: start.UnixMilli(), step: step.Milliseconds(), steps: steps, offs: make([]int, steps+1)}
	t.series = make([]labels.Labels, len(m))
	// Count the samples of each step, then place them: a counting sort.
	for _, s := range m {
		for _, p := range s.Floats {
			if k, ok := t.index(p.T); ok {
				t.offs[k+1]++
			}
		}
	}
	for k := range steps {
		t.offs[k+1] += t.offs[k]
	}
	n := t.offs[steps]
	t.idx, t.vals = make([]int32, n), make([]float64, n)
	fill := make([]int, steps)
	copy(fill, t.offs[:steps])
	for i, s := range m {
		t.series[i] = s.Metric
		for _, p := range s.Floats {
			if k, ok := t.index(p.T); ok {
				t.idx[fill[k]], t.vals[fill[k]] = int32(i), p.F
				fill[k]++
			}
		}
	}
	return t
}

// index returns the step of the time ms.
func (t *stepTable) index(ms int64) (int, bool) {
	d := ms - t.start
	if d < 0 || d%t.step != 0 || d/t.step >= int64(t.steps) {
		return 0, false
	}
	return int(d / t.step), true
}

// at returns the instant query's answer at ts, and false if ts is not one
// of the table's steps.
func (t *stepTable) at(ts time.Time) (promql.Vector, bool) {
	if t == nil {
		return nil, false
	}
	ms := ts.UnixMilli()
	k, ok := t.index(ms)
	if !ok || ts.Sub(time.UnixMilli(ms)) != 0 {
		return nil, false
	}
	lo, hi := t.offs[k], t.offs[k+1]
	vec := make(promql.Vector, hi-lo)
	for i := lo; i < hi; i++ {
		vec[i-lo] = promql.Sample{Metric: t.series[t.idx[i]], T: ms, F: t.vals[i]}
	}
	return vec, true
}
