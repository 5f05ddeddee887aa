package dispatch

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for tests without goroutines.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestStorePutMergesAndGets(t *testing.T) {
	clk := &fakeClock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := NewStore(5*time.Minute, clk.Now)
	t0 := clk.Now()
	require.NoError(t, s.Put([]*Alert{{Labels: lset("alertname", "A"), StartsAt: t0.Add(-time.Minute)}}))
	fp := lset("alertname", "A").Fingerprint()
	a, ok := s.Get(fp)
	require.True(t, ok)
	require.Equal(t, t0.Add(5*time.Minute), a.EndsAt)
	require.True(t, a.Timeout)
	require.Equal(t, t0, a.UpdatedAt)

	// Re-sent a minute later with a later start (Prometheus keeps the
	// original start; another sender might not): the earliest start wins,
	// the end moves on.
	clk.Add(time.Minute)
	require.NoError(t, s.Put([]*Alert{{Labels: lset("alertname", "A"), StartsAt: t0}}))
	a, _ = s.Get(fp)
	require.Equal(t, t0.Add(-time.Minute), a.StartsAt)
	require.Equal(t, t0.Add(6*time.Minute), a.EndsAt)
	require.Equal(t, t0.Add(time.Minute), a.UpdatedAt)
	require.Equal(t, 1, s.Len())

	// Resolved explicitly.
	clk.Add(time.Minute)
	require.NoError(t, s.Put([]*Alert{{Labels: lset("alertname", "A"), StartsAt: t0, EndsAt: clk.Now()}}))
	a, _ = s.Get(fp)
	require.True(t, a.ResolvedAt(clk.Now()))
	require.Equal(t, t0.Add(-time.Minute), a.StartsAt)

	// A reload changes resolve_timeout for alerts received afterwards.
	s.SetResolveTimeout(time.Minute)
	require.NoError(t, s.Put([]*Alert{{Labels: lset("alertname", "B")}}))
	b, _ := s.Get(lset("alertname", "B").Fingerprint())
	require.Equal(t, clk.Now().Add(time.Minute), b.EndsAt)
}

func TestStoreListAndGC(t *testing.T) {
	clk := &fakeClock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := NewStore(5*time.Minute, clk.Now)
	now := clk.Now()
	var in []*Alert
	for i := range 100 {
		end := now.Add(time.Hour)
		if i%4 == 0 {
			end = now.Add(-time.Second)
		}
		in = append(in, &Alert{Labels: lset("alertname", fmt.Sprint(i)), StartsAt: now.Add(-time.Hour), EndsAt: end})
	}
	require.NoError(t, s.Put(in))
	require.Equal(t, 100, s.Len())
	n := 0
	s.List(func(*Alert) bool { n++; return true })
	require.Equal(t, 100, n)
	n = 0
	s.List(func(*Alert) bool { n++; return n < 7 })
	require.Equal(t, 7, n, "List stops when f returns false")

	require.Equal(t, 25, s.GC())
	require.Equal(t, 75, s.Len())
	s.List(func(a *Alert) bool {
		require.False(t, a.ResolvedAt(clk.Now()))
		return true
	})
	clk.Add(time.Hour)
	require.Equal(t, 75, s.GC(), "the rest ended at now")
	require.Zero(t, s.Len())
}

func TestStoreConcurrent(t *testing.T) {
	// For the race detector: puts, reads and GC at once.
	clk := &fakeClock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := NewStore(time.Minute, clk.Now)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if err := s.Put([]*Alert{{Labels: lset("alertname", fmt.Sprint(i%50), "w", fmt.Sprint(w%2))}}); err != nil {
					t.Error(err)
				}
				if i%20 == 0 {
					clk.Add(time.Second)
					s.GC()
				}
				s.List(func(a *Alert) bool { _ = a.Labels; return true })
				s.Get(model.Fingerprint(i))
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, s.Len(), 100)
}
