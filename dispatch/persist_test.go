package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

// memAlerts is an AlertPersister in memory.
type memAlerts struct {
	mu      sync.Mutex
	alerts  map[model.Fingerprint]Alert
	savedAt time.Time
	saves   int
	err     error
}

func (m *memAlerts) LoadAlerts(context.Context) ([]*Alert, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Alert
	for _, a := range m.alerts {
		a := a
		a.fp = 0 // as read back from storage
		out = append(out, &a)
	}
	return out, m.savedAt, nil
}

func (m *memAlerts) SaveAlerts(_ context.Context, upsert []*Alert, deleted []model.Fingerprint, savedAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.alerts == nil {
		m.alerts = map[model.Fingerprint]Alert{}
	}
	for _, a := range upsert {
		m.alerts[a.Fingerprint()] = *a
	}
	for _, fp := range deleted {
		delete(m.alerts, fp)
	}
	m.savedAt = savedAt
	m.saves++
	return nil
}

func TestStorePersistAndRestore(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	p := &memAlerts{}
	s := NewStore(5*time.Minute, clock)
	n, err := s.Restore(ctx, p)
	require.NoError(t, err)
	require.Zero(t, n)
	require.NoError(t, s.Put([]*Alert{
		firing(now, "alertname", "Long"),                                                       // ends in a day
		firingUntil(now, now.Add(2*time.Minute), "alertname", "Short"),                         // ends in two minutes
		resolved(now.Add(-time.Hour), now.Add(-time.Minute), "alertname", "Ended"),             // ended before the stop
		{Labels: lset("alertname", "NoEnd"), Annotations: lset("summary", "s"), StartsAt: now}, // resolve_timeout
	}))
	require.NoError(t, s.Persist(ctx))
	require.Equal(t, 1, p.saves)
	require.NoError(t, s.Persist(ctx))
	require.Equal(t, 1, p.saves, "nothing changed: nothing written")
	require.Zero(t, s.pendingWrites())

	// Down for ten minutes: Short's end passed while down (unknown: kept
	// for resolve_timeout), Ended had ended before (stays ended).
	now = now.Add(10 * time.Minute)
	s2 := NewStore(5*time.Minute, clock)
	n, err = s2.Restore(ctx, p)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	get := func(name string) *Alert {
		a, ok := s2.Get(lset("alertname", name).Fingerprint())
		require.True(t, ok, name)
		return a
	}
	require.True(t, get("Long").EndsAt.Equal(now.Add(24*time.Hour-10*time.Minute)))
	require.True(t, get("Short").EndsAt.Equal(now.Add(5*time.Minute)), "unknown while down: resolve_timeout from now")
	require.True(t, get("Short").Timeout)
	require.True(t, get("Ended").ResolvedAt(now), "ended before the stop")
	require.True(t, get("NoEnd").Timeout)
	require.Equal(t, model.LabelValue("s"), get("NoEnd").Annotations["summary"])

	// Dropped alerts are deleted; a failed write is retried.
	require.Equal(t, 1, s2.GC())
	p.err = errors.New("disk full")
	require.Error(t, s2.Persist(ctx))
	p.err = nil
	require.NoError(t, s2.Persist(ctx))
	require.Len(t, p.alerts, 3)
}

// TestRestoredStoreInhibitsFromTheFirstFlush: before a restart, a critical
// alert inhibits a warning of the same service. After the restart only the
// warning is re-sent at first (its sender's turn came first): the restored
// store still holds the critical one, so the warning's group stays silent.
// Without the restore, the warning was notified (7 of 9 rounds).
func TestRestoredStoreInhibitsFromTheFirstFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := &memAlerts{}
		route := &config.Route{
			Receiver: "r", GroupBy: []model.LabelName{"alertname"},
			GroupWait: dur(time.Second), GroupInterval: dur(time.Minute), RepeatInterval: dur(time.Hour),
		}
		inhibit := func(o *Options) {
			o.Inhibitor = NewInhibitor([]*config.InhibitRule{{
				SourceMatchers: matchers(t, "severity", "=", "critical"),
				TargetMatchers: matchers(t, "severity", "=", "warning"),
				Equal:          []model.LabelName{"svc"},
			}})
		}
		start := time.Now()
		crit := func() *Alert { return firing(start, "alertname", "Down", "severity", "critical", "svc", "db") }
		warn := func() *Alert { return firing(start, "alertname", "Slow", "severity", "warning", "svc", "db") }

		e1 := newEnv(t, route, inhibit)
		_, err := e1.store.Restore(ctx, p)
		require.NoError(t, err)
		e1.put(crit(), warn())
		advance(5 * time.Second)
		require.NoError(t, e1.store.Persist(ctx))
		require.Len(t, e1.rec.all(), 1, "only the critical alert is notified")

		// The restart: a new store restored before the dispatcher is set.
		e2 := newEnv(t, route, inhibit)
		e2.store.SetDispatcher(nil)
		_, err = e2.store.Restore(ctx, p)
		require.NoError(t, err)
		e2.store.SetDispatcher(e2.disp)
		e2.put(warn())
		advance(5 * time.Second)
		for _, b := range e2.rec.all() {
			require.NotEqual(t, `{}:{alertname="Slow"}`, b.GroupKey, "the inhibited alert was notified")
		}
	})
}

// TestBatchFillsNewGroupsBeforeTheyFlush: a batch whose first alert makes a
// group due at once (it started long ago, as when a restart or reload loads
// the stored alerts) must not flush before the batch's other alerts of the
// group are in: a group flushed with only its resolved alert notified "all
// resolved" for a group whose other alerts fire.
func TestBatchFillsNewGroupsBeforeTheyFlush(t *testing.T) {
	// Real time: the timer of a group due at once fires on its own
	// goroutine while the batch is still being put, which a synctest
	// bubble would not let happen before the batch is done.
	ctx := context.Background()
	for range 20 {
		start := time.Now().Add(-time.Hour)
		x := resolved(start, time.Now().Add(-time.Minute), "alertname", "A", "instance", "x")
		batch := []*Alert{x}
		var firingFPs []uint64
		for i := range 2000 {
			a := firing(start, "alertname", "A", "instance", fmt.Sprint(i))
			batch = append(batch, a)
			firingFPs = append(firingFPs, uint64(a.Labels.Fingerprint()))
		}
		slices.Sort(firingFPs)
		l, err := NewNotificationLog(ctx, nil, time.Hour)
		require.NoError(t, err)
		e := newEnv(t, &config.Route{
			Receiver: "r", GroupBy: []model.LabelName{"alertname"},
			GroupWait: dur(time.Second), GroupInterval: dur(time.Minute), RepeatInterval: dur(time.Hour),
		}, withLog(l))
		key := `{}:{alertname="A"} r/webhook/0`
		require.NoError(t, l.Log(ctx, key, firingFPs, []uint64{uint64(x.Labels.Fingerprint())}, time.Now().Add(-time.Minute), 0))
		e.put(batch...)
		time.Sleep(50 * time.Millisecond) // the flush, due at once
		for _, b := range e.rec.all() {
			t.Fatalf("notified %s with %d firing and %d resolved alerts: everything was notified before", b.Reason, len(b.Firing), len(b.Resolved))
		}
	}
}
