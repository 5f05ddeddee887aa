package silences

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the start of every fake clock.
var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// memPersister is a Persister in memory that can be told to fail.
type memPersister struct {
	mu      sync.Mutex
	sils    map[string]Silence
	err     error // returned by SaveSilences when set
	loadErr error // returned by LoadSilences when set
	saves   int
}

func newMemPersister() *memPersister { return &memPersister{sils: map[string]Silence{}} }

func (p *memPersister) LoadSilences(context.Context) ([]Silence, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loadErr != nil {
		return nil, p.loadErr
	}
	return slices.Collect(maps.Values(p.sils)), nil
}

func (p *memPersister) SaveSilences(_ context.Context, upsert []Silence, deleteIDs []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.saves++
	for _, s := range upsert {
		p.sils[s.ID] = s
	}
	for _, id := range deleteIDs {
		delete(p.sils, id)
	}
	return nil
}

// failLoads makes LoadSilences fail with err.
func (p *memPersister) failLoads(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loadErr = err
}

func (p *memPersister) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// m builds a matcher, failing the test on a bad regexp.
func m(t testing.TB, typ labels.MatchType, name, value string) *labels.Matcher {
	t.Helper()
	mt, err := labels.NewMatcher(typ, name, value)
	require.NoError(t, err)
	return mt
}

// eq is the common case of m.
func eq(t testing.TB, name, value string) *labels.Matcher {
	return m(t, labels.MatchEqual, name, value)
}

// newSilence is a valid silence from start to end (offsets from t0).
func newSilence(ms labels.Matchers, start, end time.Duration) Silence {
	return Silence{
		Matchers: ms, StartsAt: t0.Add(start), EndsAt: t0.Add(end),
		CreatedBy: "alice", Comment: "maintenance",
	}
}

// newStore returns a store on clk and p (p may be nil).
func newStore(t testing.TB, clk *clock, p Persister) *Store {
	t.Helper()
	opts := Options{Now: clk.Now, Retention: time.Hour}
	if p != nil {
		opts.Persister = p
	}
	s, err := New(context.Background(), opts)
	require.NoError(t, err)
	return s
}
