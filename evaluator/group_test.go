package evaluator

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/rules"
)

// memStore is a StateStore in memory.
type memStore struct {
	mu     sync.Mutex
	groups map[string][]RuleAlerts
	writes int
	// upserts and deletes count the rules upserted and the alerts deleted.
	upserts, deletes int
	fail             error
}

func newMemStore() *memStore { return &memStore{groups: map[string][]RuleAlerts{}} }

func (s *memStore) LoadAlertStates(context.Context) (map[string][]RuleAlerts, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]RuleAlerts{}
	for k, v := range s.groups {
		out[k] = v
	}
	return out, nil
}

func (s *memStore) SaveAlertStates(_ context.Context, key string, ch StateChanges) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	rows := map[string]map[uint64]Alert{}
	for _, r := range s.groups[key] {
		for _, a := range r.Alerts {
			if rows[r.RuleKey] == nil {
				rows[r.RuleKey] = map[uint64]Alert{}
			}
			rows[r.RuleKey][a.Labels.Hash()] = a
		}
	}
	for _, r := range ch.Upsert {
		for _, a := range r.Alerts {
			if rows[r.RuleKey] == nil {
				rows[r.RuleKey] = map[uint64]Alert{}
			}
			rows[r.RuleKey][a.Labels.Hash()] = a
		}
	}
	for _, d := range ch.Delete {
		delete(rows[d.RuleKey], d.Labels.Hash())
	}
	var out []RuleAlerts
	for rule, as := range rows {
		if len(as) > 0 {
			out = append(out, RuleAlerts{RuleKey: rule, Alerts: slices.Collect(maps.Values(as))})
		}
	}
	s.groups[key] = out
	s.writes++
	s.upserts, s.deletes = s.upserts+len(ch.Upsert), s.deletes+len(ch.Delete)
	return nil
}

// count returns the writes so far.
func (s *memStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

func (s *memStore) DeleteAlertStates(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.groups, key)
	return nil
}

// memSink collects what the evaluator hands on.
type memSink struct {
	mu     sync.Mutex
	alerts []PostableAlert
}

func (s *memSink) Send(_ context.Context, a []PostableAlert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerts = append(s.alerts, a...)
}

func (s *memSink) get() []PostableAlert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]PostableAlert(nil), s.alerts...)
}

func alertRule(name, expr string, hold time.Duration) rules.Rule {
	return rules.Rule{Alert: name, Expr: expr, For: hold}
}

func file(path string, groups ...rules.RuleGroup) *rules.File {
	return &rules.File{Path: path, Groups: groups}
}

func config(q Querier, files ...*rules.File) Config {
	return Config{
		Files:             files,
		Datasources:       map[string]Datasource{"ds": {Name: "ds", Querier: q}},
		DefaultDatasource: "ds",
		DefaultInterval:   10 * time.Second,
		ResendDelay:       time.Minute,
		Concurrency:       8,
	}
}

// run starts m in the bubble and returns a function that stops it.
func run(m *Manager) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func TestGroupEvaluatesOnAlignedSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		m := NewManager(Options{})
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml",
			rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", "a", 0)}}))))
		start := time.Now()
		stop := run(m)
		time.Sleep(65 * time.Second)
		stop()
		times := q.Queries("a")
		require.GreaterOrEqual(t, len(times), 6)
		g := &Group{name: "g", file: "a.yml", interval: 10 * time.Second}
		first := g.evalTimestamp(start).Add(10 * time.Second)
		require.Equal(t, first, times[0], "the first evaluation is at the group's next slot")
		for i, ts := range times {
			require.Equal(t, first.Add(time.Duration(i)*10*time.Second), ts)
		}
	})
}

func TestGroupOffsetsDiffer(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &Group{name: "a", file: "f", interval: time.Minute}
	b := &Group{name: "b", file: "f", interval: time.Minute}
	require.NotEqual(t, a.evalTimestamp(now), b.evalTimestamp(now))
	for _, g := range []*Group{a, b} {
		ts := g.evalTimestamp(now)
		require.False(t, ts.After(now))
		require.Less(t, now.Sub(ts), time.Minute)
		require.Equal(t, ts, g.evalTimestamp(ts), "a slot maps to itself")
	}
}

func TestCronSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		m := NewManager(Options{})
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml",
			rules.RuleGroup{Name: "g", Schedule: "*/20 * * * * *", Rules: []rules.Rule{alertRule("A", "a", 0)}}))))
		stop := run(m)
		time.Sleep(61 * time.Second)
		stop()
		times := q.Queries("a")
		require.Len(t, times, 3)
		for _, ts := range times {
			require.Zero(t, ts.Second()%20, ts)
			require.Zero(t, ts.Nanosecond())
		}
		gs := m.Groups()
		require.Equal(t, 20*time.Second, gs[0].Interval)
		require.Equal(t, "*/20 * * * * *", gs[0].Schedule)
	})
}

func TestMissedIterationsAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		calls := 0
		q.Set("slow", func(time.Time) (promql.Vector, error) {
			calls++
			if calls == 1 {
				time.Sleep(25 * time.Second) // past the next two slots
			}
			return nil, nil
		})
		metrics := NewMetrics(nil)
		m := NewManager(Options{Metrics: metrics})
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml",
			rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", "slow", 0)}}))))
		stop := run(m)
		time.Sleep(60 * time.Second)
		stop()
		// Slots T+10s and T+20s passed during the first evaluation: the
		// first is skipped, the second evaluated late (as Prometheus does).
		require.Equal(t, 1.0, testutil.ToFloat64(metrics.iterationsMissed.WithLabelValues("a.yml;g")))
		times := q.Queries("slow")
		require.Equal(t, 20*time.Second, times[1].Sub(times[0]), "evaluation resumes at the latest slot")
	})
}

func TestSlowGroupDoesNotDelayAnother(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		q.Set("slow", func(time.Time) (promql.Vector, error) { time.Sleep(time.Hour); return nil, nil })
		metrics := NewMetrics(nil)
		m := NewManager(Options{Metrics: metrics})
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml",
			rules.RuleGroup{Name: "slow", Rules: []rules.Rule{alertRule("S", "slow", 0)}},
			rules.RuleGroup{Name: "fast", Rules: []rules.Rule{alertRule("F", "fast", 0)}}))))
		stop := run(m)
		time.Sleep(100 * time.Second)
		stop()
		require.GreaterOrEqual(t, len(q.Queries("fast")), 9)
		require.Zero(t, testutil.ToFloat64(metrics.iterationsMissed.WithLabelValues("a.yml;fast")))
	})
}

// TestAlertingRulesRunConcurrently: 100 rules at 60 ms per query take 6 s
// one after another, more than the 5 s interval; evaluated 8 at a time they
// take under a second and no iteration is missed.
func TestAlertingRulesRunConcurrently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		var rs []rules.Rule
		for i := range 100 {
			expr := "q" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			q.Set(expr, func(time.Time) (promql.Vector, error) { time.Sleep(60 * time.Millisecond); return vec("x"), nil })
			rs = append(rs, alertRule("R", expr, 0))
		}
		metrics := NewMetrics(nil)
		m := NewManager(Options{Metrics: metrics})
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml",
			rules.RuleGroup{Name: "g", Interval: 5 * time.Second, Rules: rs}))))
		stop := run(m)
		time.Sleep(61 * time.Second)
		stop()
		require.Zero(t, testutil.ToFloat64(metrics.iterationsMissed.WithLabelValues("a.yml;g")))
		require.Equal(t, 780*time.Millisecond, m.Groups()[0].EvaluationTime, "13 rounds of 8 queries")
		require.Equal(t, 12.0, testutil.ToFloat64(metrics.iterations.WithLabelValues("a.yml;g")))
	})
}

// recorder is an Appender that keeps what it is given.
type recorder struct {
	mu      sync.Mutex
	samples []promql.Sample
}

func (r *recorder) Append(_ context.Context, s []promql.Sample) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, s...)
	return nil
}

// TestRulesWaitForTheRecordingsTheyRead: a rule that reads an earlier
// recording rule's series is evaluated after that rule's evaluation and
// write; rules that read nothing recorded run concurrently with it.
// Recording results and ALERTS series are written, and a vanished series
// gets a stale marker.
func TestRulesWaitForTheRecordingsTheyRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu         sync.Mutex
			order      []string
			concurrent []bool // per evaluation of rec: did independent start meanwhile?
			sawWrite   []bool // per evaluation of the reader: was job:rec written already?
		)
		app := &recorder{}
		started := make(chan struct{}, 10)
		q := NewFakeQuerier()
		note := func(e string) {
			mu.Lock()
			order = append(order, e)
			mu.Unlock()
		}
		q.Set("rec", func(time.Time) (promql.Vector, error) {
			select {
			case <-started:
				concurrent = append(concurrent, true)
			case <-time.After(time.Second):
				concurrent = append(concurrent, false)
			}
			note("rec")
			return vec("x"), nil
		})
		q.Set("independent", func(time.Time) (promql.Vector, error) {
			started <- struct{}{}
			time.Sleep(10 * time.Millisecond)
			note("independent")
			return vec("x"), nil
		})
		q.Set(`job:rec > 0`, func(time.Time) (promql.Vector, error) {
			app.mu.Lock()
			n := 0
			for _, s := range app.samples {
				if s.Metric.Get("__name__") == "job:rec" {
					n++
				}
			}
			app.mu.Unlock()
			sawWrite = append(sawWrite, n == len(sawWrite)+1)
			note("reader")
			return vec("x"), nil
		})
		cfg := config(q, file("a.yml", rules.RuleGroup{Name: "g", Rules: []rules.Rule{
			{Record: "job:rec", Expr: "rec"}, alertRule("Independent", "independent", 0), alertRule("Reader", `job:rec > 0`, 0),
		}}))
		cfg.Datasources = map[string]Datasource{"ds": {Name: "ds", Querier: q, Appender: app}}
		m := NewManager(Options{})
		require.NoError(t, m.Update(context.Background(), cfg))
		stop := run(m)
		time.Sleep(11 * time.Second)
		q.SetVector("rec", nil)
		time.Sleep(10 * time.Second)
		stop()
		require.Equal(t, []bool{true}, concurrent[:1], "the independent rule ran while the recording rule was evaluated")
		require.Equal(t, []bool{true, true}, sawWrite, "the reader ran after the recorded series was written")
		byName := map[string][]promql.Sample{}
		for _, s := range app.samples {
			byName[s.Metric.Get("__name__")] = append(byName[s.Metric.Get("__name__")], s)
		}
		require.Len(t, byName["ALERTS"], 4)
		rec := byName["job:rec"]
		require.Len(t, rec, 2)
		require.Equal(t, `{__name__="job:rec", instance="x"}`, rec[0].Metric.String())
		require.Equal(t, 1.0, rec[0].F)
		require.True(t, isStale(rec[1].F), "the recorded series went away: stale marker")
		require.Equal(t, rec[0].T+10_000, rec[1].T)
	})
}

// TestRuleDeps: a rule depends on the earlier rules whose series it
// selects by name (a recording rule's, an alerting rule's ALERTS), on all
// earlier writers when a selector has no fixed name, and on none that come
// after it.
func TestRuleDeps(t *testing.T) {
	exprs := []string{"up", "sum(a:rec)", `{job="x"}`, "rate(b:rec[5m]) > 0", "a:rec + c", `{__name__=~"a:.*"}`, "broken(",
		"x > 0", `count(ALERTS{alertname="X"})`}
	alerts := []string{"ALERTS", "ALERTS_FOR_STATE"}
	writes := [][]string{{"a:rec"}, {"b:rec"}, nil, nil, {"a:rec"}, nil, nil, alerts, nil}
	require.Equal(t, [][]int{nil, {0}, {0, 1}, {1}, {0}, {0, 1, 4}, {0, 1, 4}, nil, {7}}, ruleDeps(exprs, writes))
}

func TestRecordingRuleNotEvaluatedWithoutAppender(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		m := NewManager(Options{})
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml", rules.RuleGroup{Name: "g", Rules: []rules.Rule{
			{Record: "job:rec", Expr: "rec"},
		}}))))
		stop := run(m)
		time.Sleep(30 * time.Second)
		stop()
		require.Empty(t, q.Queries("rec"))
		r := m.Groups()[0].Rules[0]
		require.Equal(t, HealthUnknown, r.Health)
		require.Contains(t, r.LastError, "not evaluated")
	})
}

func TestQueryFailureKeepsAlertsAndResends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		q.SetVector("x", vec("a"))
		sink := &memSink{}
		m := NewManager(Options{Sink: sink})
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml",
			rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", "x", 0)}}))))
		stop := run(m)
		time.Sleep(15 * time.Second)
		require.Len(t, sink.get(), 1)
		q.SetError("x", errors.New(`datasource "ds": connection refused`))
		time.Sleep(5 * time.Minute)
		stop()
		r := m.Groups()[0].Rules[0]
		require.Equal(t, HealthErr, r.Health)
		require.Equal(t, `datasource "ds": connection refused`, r.LastError)
		require.Equal(t, StateFiring, r.State)
		sent := sink.get()
		require.GreaterOrEqual(t, len(sent), 5, "re-sent every minute while the query fails")
		for _, a := range sent {
			require.True(t, a.EndsAt.After(a.StartsAt), "still firing")
		}
		require.Len(t, r.History, historySize)
		require.NotEmpty(t, r.History[0].Err)
	})
}

func isStale(f float64) bool { return value.IsStaleNaN(f) }

// An alerting rule on a datasource that stores nothing (a Prometheus
// query API) reports its result's size as samples, as a recording rule
// does, and the state changes go to OnTransition with the group and rule.
func TestSamplesAndTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		q.SetVector("x", vec("a", "b", "c"))
		var mu sync.Mutex
		var got []string
		m := NewManager(Options{OnTransition: func(tr Transition) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, tr.Rule+" "+tr.Labels.Get("instance")+" "+tr.From.String()+">"+tr.To.String())
		}})
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml",
			rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", "x", 15*time.Second)}}))))
		stop := run(m)
		time.Sleep(35 * time.Second) // pending at 10 s, firing at 30 s
		q.SetVector("x", vec("a", "b"))
		time.Sleep(10 * time.Second) // c resolved at 40 s
		stop()
		r := m.Groups()[0].Rules[0]
		require.Equal(t, 2, r.History[0].Samples, "the query's result, though nothing is written")
		require.Equal(t, 3, r.History[1].Samples)
		mu.Lock()
		defer mu.Unlock()
		slices.Sort(got)
		require.Equal(t, []string{
			"g/A a inactive>pending", "g/A a pending>firing",
			"g/A b inactive>pending", "g/A b pending>firing",
			"g/A c firing>inactive", "g/A c inactive>pending", "g/A c pending>firing",
		}, got)
	})
}
