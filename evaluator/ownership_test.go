package evaluator

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/rules"
)

// sharedStore is a memStore that replicas share, read one group at a time
// as a replica taking a group over reads it.
type sharedStore struct{ *memStore }

func (s sharedStore) LoadGroupAlertStates(ctx context.Context, key string) ([]RuleAlerts, error) {
	all, err := s.LoadAlertStates(ctx)
	return all[key], err
}

// owners says which replica evaluates every group, and in which term.
type owners struct {
	mu    sync.Mutex
	owner string
	term  uint64
}

func (o *owners) set(owner string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.owner, o.term = owner, o.term+1
}

type ownedBy struct {
	o    *owners
	name string
}

func (b ownedBy) Owns(string) (bool, uint64) {
	b.o.mu.Lock()
	defer b.o.mu.Unlock()
	return b.o.owner == b.name, b.o.term
}

// TestGroupTakenOverKeepsStates: two replicas run the same group; only
// its owner evaluates it. When the other takes it over, it starts from the
// states the owner left: the pending alert keeps its start (its for timer),
// and the former owner stops evaluating.
func TestGroupTakenOverKeepsStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		q.SetVector("x", vec("a"))
		store := sharedStore{newMemStore()}
		o := &owners{}
		o.set("a")
		managers := map[string]*Manager{}
		var stops []func()
		for _, name := range []string{"a", "b"} {
			m := NewManager(Options{Store: store, Ownership: ownedBy{o, name}})
			require.NoError(t, m.Update(context.Background(), config(q, file("r.yml",
				rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", "x", time.Hour)}}))))
			managers[name] = m
			stops = append(stops, run(m))
		}
		time.Sleep(35 * time.Second)
		ga, gb := managers["a"].Groups()[0], managers["b"].Groups()[0]
		require.False(t, ga.LastEvaluation.IsZero(), "the owner evaluates")
		require.True(t, gb.LastEvaluation.IsZero(), "the other does not")
		require.Len(t, ga.Rules[0].Alerts, 1)
		started := ga.Rules[0].Alerts[0].ActiveAt
		require.Equal(t, StatePending, ga.Rules[0].Alerts[0].State)

		o.set("b")
		time.Sleep(35 * time.Second)
		ga2, gb2 := managers["a"].Groups()[0], managers["b"].Groups()[0]
		require.Equal(t, ga.LastEvaluation, ga2.LastEvaluation, "the former owner stopped")
		require.False(t, gb2.LastEvaluation.IsZero(), "the new owner evaluates")
		require.Len(t, gb2.Rules[0].Alerts, 1)
		require.Equal(t, StatePending, gb2.Rules[0].Alerts[0].State)
		require.True(t, started.Equal(gb2.Rules[0].Alerts[0].ActiveAt), "the for timer keeps its start: %v, was %v", gb2.Rules[0].Alerts[0].ActiveAt, started)
		for _, stop := range stops {
			stop()
		}
	})
}
