package evaluator

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/rules"
)

// hangingQuerier answers with one sample per expression until hang is set;
// then every query waits for its context or for timeout, as a query API
// that accepts connections and never answers does behind a client timeout.
type hangingQuerier struct {
	timeout time.Duration
	mu      sync.Mutex
	hang    bool
}

func (q *hangingQuerier) setHang(h bool) {
	q.mu.Lock()
	q.hang = h
	q.mu.Unlock()
}

func (q *hangingQuerier) Query(ctx context.Context, expr string, _ time.Time) (promql.Vector, error) {
	q.mu.Lock()
	hang := q.hang
	q.mu.Unlock()
	if !hang {
		return vec("a"), nil
	}
	t := time.NewTimer(q.timeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("query %s: %w", expr, ctx.Err())
	case <-t.C:
		return nil, fmt.Errorf("query %s: timed out after %s", expr, q.timeout)
	}
}

// timedSink records when each alert was handed on.
type timedSink struct {
	mu   sync.Mutex
	sent map[string][]timedAlert
}

type timedAlert struct {
	at     time.Time
	endsAt time.Time
}

func (s *timedSink) Send(_ context.Context, alerts []PostableAlert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent == nil {
		s.sent = map[string][]timedAlert{}
	}
	for _, a := range alerts {
		k := a.Labels.String()
		s.sent[k] = append(s.sent[k], timedAlert{at: time.Now(), endsAt: a.EndsAt})
	}
}

// of returns what was handed on of the alert with labels k.
func (s *timedSink) of(k string) []timedAlert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]timedAlert(nil), s.sent[k]...)
}

// alerts returns how many alerts were handed on.
func (s *timedSink) alerts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

// expiries returns, per alert, the times at which it was invalid
// downstream between from and to: when its last EndsAt had passed before
// it was handed on again. An alert handed on with EndsAt at or before the
// time it was sent is a resolve, and counts too.
func (s *timedSink) expiries(from, to time.Time) map[string][]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]time.Time{}
	for k, sends := range s.sent {
		validUntil := time.Time{}
		for _, a := range sends {
			if !validUntil.IsZero() && a.at.After(validUntil) && a.at.After(from) {
				out[k] = append(out[k], validUntil)
			}
			if !a.endsAt.After(a.at) {
				out[k] = append(out[k], a.at) // resolved
			}
			validUntil = a.endsAt
		}
		if validUntil.Before(to) {
			out[k] = append(out[k], validUntil)
		}
	}
	return out
}

// noExpiry fails the test if an alert was invalid downstream between
// from and to.
func noExpiry(t *testing.T, s *timedSink, from, to time.Time) {
	t.Helper()
	exp := s.expiries(from, to)
	for k, times := range exp {
		t.Fatalf("%d of %d alerts expired or resolved downstream, %s %d times, first at %s",
			len(exp), s.alerts(), k, len(times), times[0].UTC().Format(time.TimeOnly))
	}
}

// TestHangingQueryAPIResolvesNothing: 72 alerting rules of one group, with
// the shipped defaults (interval 1m, resend delay 1m, 30s timeout,
// concurrency 8), fire; then the query API hangs for 20 minutes. No alert
// expires downstream: the evaluation stops at the next scheduled time,
// marks the rules it did not reach as failed and hands every alert on with
// a fresh EndsAt. Before this was fixed, one evaluation took 9 x 30s = 270s
// and all 72 alerts expired after 240s.
func TestHangingQueryAPIResolvesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &hangingQuerier{timeout: 30 * time.Second}
		sink := &timedSink{}
		m := NewManager(Options{Sink: sink})
		var rs []rules.Rule
		for i := range 72 {
			rs = append(rs, alertRule(fmt.Sprintf("A%02d", i), fmt.Sprintf("x%d", i), 0))
		}
		cfg := config(q, file("a.yml", rules.RuleGroup{Name: "g", Rules: rs}))
		cfg.DefaultInterval = time.Minute
		require.NoError(t, m.Update(context.Background(), cfg))
		stop := run(m)
		time.Sleep(2 * time.Minute)
		require.Equal(t, 72, sink.alerts(), "every rule fires")
		hangFrom := time.Now()
		q.setHang(true)
		time.Sleep(20 * time.Minute)
		stop()
		end := time.Now()
		noExpiry(t, sink, hangFrom, end)

		g := m.Groups()[0]
		for _, r := range g.Rules {
			require.Equal(t, StateFiring, r.State, r.Name)
			require.Equal(t, HealthErr, r.Health, r.Name)
		}
		require.Contains(t, g.Rules[71].LastError, "reached its next scheduled time")
		require.Contains(t, g.Rules[71].LastError, "not evaluated")
		require.Contains(t, g.Rules[0].LastError, "timed out after 30s")
	})
}

// TestSlowRuleBoundedByInterval: a rule whose query takes longer than the
// group's interval (timeout 30s, interval 10s) is cut at the next
// scheduled time; its alert neither flaps nor expires, and no evaluation is
// missed.
func TestSlowRuleBoundedByInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &hangingQuerier{timeout: 30 * time.Second}
		sink := &timedSink{}
		m := NewManager(Options{Sink: sink})
		cfg := config(q, file("a.yml", rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", "x", 0)}}))
		cfg.ResendDelay = 2 * time.Second
		require.NoError(t, m.Update(context.Background(), cfg))
		stop := run(m)
		time.Sleep(30 * time.Second)
		hangFrom := time.Now()
		q.setHang(true)
		time.Sleep(5 * time.Minute)
		stop()
		noExpiry(t, sink, hangFrom, time.Now())
		g := m.Groups()[0]
		require.Equal(t, StateFiring, g.Rules[0].State)
		require.Contains(t, g.Rules[0].LastError, "reached its next scheduled time")
		// Every 10 s slot was evaluated (each one cut at the next).
		require.GreaterOrEqual(t, len(g.Rules[0].History), 20)
	})
}

// TestCronGroupValidOverNight: an alert of a working-hours schedule handed
// on at 17:55 stays valid until the fourth run of the next morning, 09:15,
// instead of expiring at 18:15 and resolving overnight.
func TestCronGroupValidOverNight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &timedSink{}
		m := NewManager(Options{Sink: sink})
		q := NewFakeQuerier()
		q.SetVector("x", vec("a"))
		require.NoError(t, m.Update(context.Background(), config(q, file("a.yml",
			rules.RuleGroup{Name: "g", Schedule: "*/5 9-17 * * *", Rules: []rules.Rule{alertRule("A", "x", 0)}}))))
		// synctest's clock starts at midnight UTC.
		day := time.Now().UTC().Truncate(24 * time.Hour)
		time.Sleep(time.Until(day.Add(17*time.Hour + 50*time.Minute)))
		stop := run(m)
		time.Sleep(15*time.Hour + 9*time.Minute) // until 08:59
		stop()
		sends := sink.of(`{alertname="A", instance="a"}`)
		require.Len(t, sends, 1, "one evaluation at 17:55, the next at 09:00")
		require.Equal(t, day.Add(17*time.Hour+55*time.Minute), sends[0].at.UTC())
		require.Equal(t, day.Add(33*time.Hour+15*time.Minute), sends[0].endsAt.UTC())
		noExpiry(t, sink, sends[0].at, time.Now())
	})
}

// TestLongerForOnReloadKeepsFiring: a reload that makes `for` longer keeps
// a firing alert firing, as Prometheus does: nothing resolved downstream.
func TestLongerForOnReloadKeepsFiring(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &timedSink{}
		m := NewManager(Options{Sink: sink})
		q := NewFakeQuerier()
		q.SetVector("x", vec("a"))
		group := func(hold time.Duration) Config {
			return config(q, file("a.yml", rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", "x", hold)}}))
		}
		require.NoError(t, m.Update(context.Background(), group(0)))
		stop := run(m)
		time.Sleep(time.Minute)
		from := time.Now()
		require.NoError(t, m.Update(context.Background(), group(time.Hour)))
		time.Sleep(10 * time.Minute)
		stop()
		noExpiry(t, sink, from, time.Now())
		require.Equal(t, StateFiring, m.Groups()[0].Rules[0].State)
		require.Greater(t, len(sink.of(`{alertname="A", instance="a"}`)), 5, "still handed on")
	})
}

// TestRestartHandsOnRestoredAlertsAtOnce: after a restart, the firing alerts
// are handed on during the first Update (before any evaluation, so before
// the routing starts) with a fresh EndsAt; a resolve handed on before the
// restart is not handed on again (it made a group notify again).
func TestRestartHandsOnRestoredAlertsAtOnce(t *testing.T) {
	store := newMemStore()
	cfg := func(q Querier) Config {
		return config(q, file("a.yml", rules.RuleGroup{Name: "g", Rules: []rules.Rule{alertRule("A", "x", 0)}}))
	}
	synctest.Test(t, func(t *testing.T) {
		q := NewFakeQuerier()
		q.SetVector("x", vec("a", "b"))
		m := NewManager(Options{Store: store, Sink: &timedSink{}})
		require.NoError(t, m.Update(context.Background(), cfg(q)))
		stop := run(m)
		time.Sleep(15 * time.Second)
		q.SetVector("x", vec("a"))
		time.Sleep(10 * time.Second) // b resolved and handed on
		stop()
	})
	synctest.Test(t, func(t *testing.T) {
		// Each bubble's clock starts at the same time: move past the
		// first run, as a restart 40 s later.
		time.Sleep(40 * time.Second)
		q := NewFakeQuerier()
		q.SetVector("x", vec("a"))
		sink := &timedSink{}
		m := NewManager(Options{Store: store, Sink: sink})
		require.NoError(t, m.Update(context.Background(), cfg(q)))
		a := sink.of(`{alertname="A", instance="a"}`)
		require.Len(t, a, 1, "the firing alert is handed on by Update")
		require.Equal(t, time.Now(), a[0].at)
		require.True(t, a[0].endsAt.After(time.Now().Add(3*10*time.Second)), "with a fresh EndsAt")
		require.Empty(t, sink.of(`{alertname="A", instance="b"}`), "the resolve was handed on before the restart")

		stop := run(m)
		time.Sleep(30 * time.Second)
		stop()
		require.Empty(t, sink.of(`{alertname="A", instance="b"}`), "nor at the first evaluations")
		require.Len(t, sink.of(`{alertname="A", instance="a"}`), 1, "not again before the resend delay")
	})
}
