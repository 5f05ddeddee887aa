package silences

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
)

// QueryOption narrows a Query. Options of different kinds combine with
// AND; the values given to one option combine with OR.
type QueryOption func(*query)

type query struct {
	ids    []string
	byID   bool
	states []State
	lset   model.LabelSet
}

// QIDs selects the silences with the given IDs (none if no ID is given).
func QIDs(ids ...string) QueryOption {
	return func(q *query) { q.ids, q.byID = append(q.ids, ids...), true }
}

// QState selects the silences in one of the given states at the store's now.
func QState(states ...State) QueryOption {
	return func(q *query) { q.states = append(q.states, states...) }
}

// QMatches selects the silences whose matchers all match lset, whatever
// their state.
func QMatches(lset model.LabelSet) QueryOption {
	return func(q *query) { q.lset = lset }
}

// Query returns copies of the silences that pass all options, most
// recently updated first (ties by ID).
func (s *Store) Query(opts ...QueryOption) []Silence {
	var q query
	for _, o := range opts {
		o(&q)
	}
	now := s.now()
	s.mu.RLock()
	var cands []*entry
	switch {
	case q.byID:
		for _, id := range q.ids {
			if e, ok := s.silences[id]; ok && !slices.ContainsFunc(cands, func(c *entry) bool { return c.ID == id }) {
				cands = append(cands, e)
			}
		}
	case q.lset != nil && len(q.states) > 0 && !slices.Contains(q.states, StateExpired):
		// Only non-expired silences are wanted, and the index holds them
		// all (and some that expired since it was built).
		cands = s.index.Load().candidates(q.lset)
	default:
		cands = make([]*entry, 0, len(s.silences))
		for _, e := range s.silences {
			cands = append(cands, e)
		}
	}
	var out []Silence
	for _, e := range cands {
		if len(q.states) > 0 && !slices.Contains(q.states, e.State(now)) {
			continue
		}
		if q.lset != nil && !e.matches(q.lset) {
			continue
		}
		out = append(out, e.clone())
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Silence) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// collector exports alerter_silences{state} computed at scrape time, so
// that silences changing state with time are counted right.
type collector struct{ s *Store }

var silencesDesc = prometheus.NewDesc("alerter_silences", "Silences by state.", []string{"state"}, nil)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) { ch <- silencesDesc }

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counts := map[State]int{StateActive: 0, StatePending: 0, StateExpired: 0}
	now := c.s.now()
	c.s.mu.RLock()
	for _, e := range c.s.silences {
		counts[e.State(now)]++
	}
	c.s.mu.RUnlock()
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(silencesDesc, prometheus.GaugeValue, float64(n), string(st))
	}
}
