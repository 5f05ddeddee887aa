package evaluator

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/alerter/alerter/rules"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func groupNamed(m *Manager, key string) *Group {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.groups[key]
}

func TestReloadKeepsUnchangedGroupsAndCopiesState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		q.SetVector("x", vec("a"))
		q.SetVector("y", vec("b"))
		store := newMemStore()
		m := NewManager(Options{Store: store})
		keep := rules.RuleGroup{Name: "keep", Rules: []rules.Rule{alertRule("K", "y", time.Hour)}}
		change := rules.RuleGroup{Name: "change", Rules: []rules.Rule{alertRule("A", "x", time.Hour)}}
		gone := rules.RuleGroup{Name: "gone", Rules: []rules.Rule{alertRule("G", "y", 0)}}
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml", keep, change, gone))))
		stop := run(m)
		time.Sleep(30 * time.Second)
		kept := groupNamed(m, "a.yml;keep")
		before := m.Groups()

		// Change one group (a rule added), keep one, drop one.
		change.Rules = append(change.Rules, alertRule("New", "y", 0))
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml", keep, change))))
		require.Same(t, kept, groupNamed(m, "a.yml;keep"), "an unchanged group keeps running")
		after := m.Groups()
		require.Len(t, after, 2)
		require.Equal(t, before[0].Rules[0].Alerts, after[0].Rules[0].Alerts, "the changed group's rule kept its pending alert")
		require.Equal(t, StatePending, after[0].Rules[0].State)
		require.Equal(t, before[0].Rules[0].History, after[0].Rules[0].History)
		store.mu.Lock()
		_, stillSaved := store.groups["a.yml;gone"]
		store.mu.Unlock()
		require.False(t, stillSaved, "a removed group's state is deleted")
		stop()
	})
}

func TestBadReloadKeepsOldGroups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		m := NewManager(Options{})
		good := config(q, file("a.yml", rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", "x", 0)}}))
		require.NoError(t, m.Update(context.Background(), good))
		stop := run(m)
		defer stop()
		old := groupNamed(m, "a.yml;g")
		bad := config(q, file("a.yml",
			rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("B", "x", 0)}},
			rules.RuleGroup{Name: "h", Datasource: "nope", Rules: []rules.Rule{alertRule("C", "x", 0)}}))
		err := m.Update(context.Background(), bad)
		require.ErrorContains(t, err, `a.yml: group "h": unknown datasource "nope"`)
		require.Same(t, old, groupNamed(m, "a.yml;g"))
		time.Sleep(20 * time.Second)
		require.NotEmpty(t, q.Queries("x"), "the old group still runs")
	})
}

func TestStateSurvivesRestart(t *testing.T) {
	store := newMemStore()
	cfg := func(q Querier) Config {
		return config(q, file("a.yml", rules.RuleGroup{Name: "g", Rules: []rules.Rule{
			alertRule("Firing", "x", 0), alertRule("Pending", "y", time.Hour),
		}}))
	}
	var firedAt time.Time
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		q.SetVector("x", vec("a"))
		q.SetVector("y", vec("b"))
		m := NewManager(Options{Store: store})
		require.NoError(t, m.Update(context.Background(), cfg(q)))
		stop := run(m)
		time.Sleep(15 * time.Second)
		stop()
		firedAt = m.Groups()[0].Rules[0].Alerts[0].FiredAt
		require.False(t, firedAt.IsZero())
	})
	require.Equal(t, 1, store.writes)

	// A new process: before any evaluation the alerts are there, firing
	// and pending, with their times.
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		m := NewManager(Options{Store: store})
		require.NoError(t, m.Update(context.Background(), cfg(q)))
		gs := m.Groups()
		require.Equal(t, StateFiring, gs[0].Rules[0].State)
		require.Equal(t, firedAt, gs[0].Rules[0].Alerts[0].FiredAt)
		require.Equal(t, StatePending, gs[0].Rules[1].State)
		require.Equal(t, HealthUnknown, gs[0].Rules[0].Health)
	})
}

func TestStateWrittenOnlyWhenChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		q.Set("x", func(ts time.Time) (promql.Vector, error) {
			return promql.Vector{{Metric: vec("a")[0].Metric, F: float64(ts.Unix())}}, nil
		})
		store := newMemStore()
		m := NewManager(Options{Store: store})
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml",
			rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", "x", 25*time.Second)}}))))
		stop := run(m)
		// Evaluations every 10 s for 55 s: pending (write), pending, pending,
		// firing and sent (write), firing, firing; the value changes every time.
		time.Sleep(65 * time.Second)
		stop()
		require.Equal(t, 2, store.writes)
	})
}

func TestFailedStateWriteIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		q.SetVector("x", vec("a"))
		store := newMemStore()
		store.fail = errors.New("disk full")
		metrics := NewMetrics(nil)
		m := NewManager(Options{Store: store, Metrics: metrics})
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml",
			rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", "x", 0)}}))))
		stop := run(m)
		time.Sleep(15 * time.Second)
		store.mu.Lock()
		store.fail = nil
		store.mu.Unlock()
		time.Sleep(10 * time.Second)
		stop()
		require.Equal(t, 1, store.writes)
		require.Len(t, store.groups["a.yml;g"], 1)
	})
}

// stuckQuerier answers "x" until stuck is set; then it ignores its context
// and blocks until released, as a query client without a timeout would.
type stuckQuerier struct {
	mu      sync.Mutex
	stuck   bool
	release chan struct{}
}

func (q *stuckQuerier) Query(context.Context, string, time.Time) (promql.Vector, error) {
	q.mu.Lock()
	stuck := q.stuck
	q.mu.Unlock()
	if stuck {
		<-q.release
	}
	return vec("a"), nil
}

// TestReloadDoesNotBlockReaders: while a reload waits for a changed group's
// evaluation to end, readers (the API, the UI, /metrics) are answered at
// once, from the old groups; and a reload whose context is cancelled
// midway still completes.
func TestReloadDoesNotBlockReaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &stuckQuerier{release: make(chan struct{})}
		m := NewManager(Options{Store: newMemStore()})
		cfg := func(expr string) Config {
			c := config(q, file("a.yml", rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", expr, 0)}}))
			c.Datasources["ds"] = Datasource{Name: "ds", Querier: q}
			return c
		}
		require.NoError(t, m.Update(context.Background(), cfg("x")))
		stop := run(m)
		time.Sleep(15 * time.Second)
		q.mu.Lock()
		q.stuck = true
		q.mu.Unlock()
		time.Sleep(10 * time.Second) // an evaluation is now stuck

		ctx, cancel := context.WithCancel(context.Background())
		updated := make(chan error, 1)
		go func() { updated <- m.Update(ctx, cfg("y")) }()
		synctest.Wait() // the update waits for the stuck evaluation
		cancel()
		read := make(chan []GroupStatus, 1)
		go func() { read <- m.Groups(); _ = m.AlertCounts() }()
		synctest.Wait()
		select {
		case gs := <-read:
			require.Equal(t, "x", gs[0].Rules[0].Query, "the old group until the swap")
		default:
			t.Fatal("reading the groups waited for the reload")
		}
		close(q.release)
		require.NoError(t, <-updated)
		require.Equal(t, "y", m.Groups()[0].Rules[0].Query)
		require.Equal(t, StateFiring, m.Groups()[0].Rules[0].State, "the state was copied over")
		stop()
	})
}

// TestFiringGroupNotRewrittenAtResends: a group that keeps firing is written
// once, not at every resend (its alerts' last-sent time and validity are
// not what a restart needs); when one alert resolves only its row is
// written, and when it is gone its row is deleted.
func TestFiringGroupNotRewrittenAtResends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		q.SetVector("x", vec("a", "b"))
		store := newMemStore()
		m := NewManager(Options{Store: store, Sink: &memSink{}})
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml",
			rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", "x", 0)}}))))
		stop := run(m)
		time.Sleep(10 * time.Minute)
		require.Equal(t, 1, store.count(), "firing for 10 minutes, handed on every minute")
		q.SetVector("x", vec("a"))
		time.Sleep(time.Minute)
		require.Equal(t, 2, store.count(), "b resolved (and its resolve handed on)")
		time.Sleep(16 * time.Minute)
		stop()
		require.Equal(t, 3, store.writes, "b dropped after the resolved retention")
		require.Equal(t, 1, store.deletes)
		require.Len(t, store.groups["a.yml;g"][0].Alerts, 1)
	})
}
