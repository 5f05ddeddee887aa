package dispatch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNeedsUpdate(t *testing.T) {
	// The cases of Alertmanager's TestDedupStageNeedsUpdate (notify/
	// notify_test.go), then more at the edges.
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	const m = time.Minute
	entry := func(firing, resolved []uint64, sentAgo time.Duration) *LogEntry {
		return &LogEntry{Key: "k", Firing: firing, Resolved: resolved, SentAt: now.Add(-sentAgo)}
	}
	cases := []struct {
		name             string
		prev             *LogEntry
		firing, resolved []uint64
		repeat           time.Duration
		sendResolved     bool
		want             bool
		reason           NotifyReason // checked unless zero while want is true
	}{
		{name: "no entry, firing", firing: []uint64{2, 3, 4}, want: true, reason: ReasonFirst},
		{name: "no entry, only resolved", resolved: []uint64{2, 3, 4}, want: false},
		{name: "different firing sets", prev: entry([]uint64{1, 2, 3}, nil, 0), firing: []uint64{2, 3, 4}, want: true, reason: ReasonNewFiring},
		{
			name: "zero timestamp always updates",
			prev: &LogEntry{Key: "k", Firing: []uint64{1, 2, 3}, SentAt: time.Unix(0, 0)}, firing: []uint64{1, 2, 3},
			want: true, reason: ReasonRepeat,
		},
		{name: "identical before repeat", prev: entry([]uint64{1, 2, 3}, nil, 9*m), repeat: 10 * m, firing: []uint64{1, 2, 3}, want: false},
		{name: "identical after repeat", prev: entry([]uint64{1, 2, 3}, nil, 11*m), repeat: 10 * m, firing: []uint64{1, 2, 3}, want: true, reason: ReasonRepeat},
		{
			name: "resolved sets differ, nothing firing, after repeat",
			prev: entry(nil, []uint64{1, 2, 3}, 11*m), repeat: 10 * m, resolved: []uint64{3, 4, 5}, sendResolved: true, want: false,
		},
		{
			name: "new resolved, send_resolved false",
			prev: entry([]uint64{1, 2}, []uint64{3}, 9*m), repeat: 10 * m, firing: []uint64{1}, resolved: []uint64{2, 3}, want: false,
		},
		{
			name: "new resolved, send_resolved true",
			prev: entry([]uint64{1, 2}, []uint64{3}, 9*m), repeat: 10 * m, firing: []uint64{1}, resolved: []uint64{2, 3}, sendResolved: true,
			want: true, reason: ReasonNewResolved,
		},
		{
			name: "all resolved, send_resolved false",
			prev: entry([]uint64{1, 2}, []uint64{3}, 9*m), repeat: 10 * m, firing: []uint64{}, resolved: []uint64{1, 2, 3},
			want: true, reason: ReasonAllResolved,
		},
		{
			name: "all resolved, send_resolved true",
			prev: entry([]uint64{1, 2}, []uint64{3}, 9*m), repeat: 10 * m, firing: []uint64{}, resolved: []uint64{1, 2, 3}, sendResolved: true,
			want: true, reason: ReasonAllResolved,
		},
		// Beyond Alertmanager's table.
		{name: "repeat boundary is exclusive", prev: entry([]uint64{1}, nil, 10*m), repeat: 10 * m, firing: []uint64{1}, want: false},
		{name: "fewer firing (one muted), before repeat", prev: entry([]uint64{1, 2}, nil, m), repeat: 10 * m, firing: []uint64{1}, want: false},
		{name: "fewer firing, after repeat", prev: entry([]uint64{1, 2}, nil, 11*m), repeat: 10 * m, firing: []uint64{1}, want: true, reason: ReasonRepeat},
		{name: "fires again after a resolution", prev: entry(nil, []uint64{1}, m), repeat: 10 * m, firing: []uint64{1}, want: true},
		{name: "fires again after a resolution, send_resolved", prev: entry(nil, []uint64{1}, m), repeat: 10 * m, firing: []uint64{1}, sendResolved: true, want: true},
		{name: "nothing at all", prev: entry(nil, nil, 11*m), repeat: 10 * m, want: false},
		{
			name: "already notified resolved, send_resolved",
			prev: entry([]uint64{1}, []uint64{2}, m), repeat: 10 * m, firing: []uint64{1}, resolved: []uint64{2}, sendResolved: true, want: false,
		},
		{
			name: "new firing beats new resolved",
			prev: entry([]uint64{1}, nil, m), repeat: 10 * m, firing: []uint64{3}, resolved: []uint64{1}, sendResolved: true,
			want: true, reason: ReasonNewFiring,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := needsUpdate(c.prev, c.firing, c.resolved, c.sendResolved, c.repeat, now)
			require.Equal(t, c.want, got != NoNotification, "reason %v", got)
			if c.want && c.reason != NoNotification {
				require.Equal(t, c.reason, got)
			}
		})
	}
}

func TestSubset(t *testing.T) {
	f := func(a, b []uint64, want bool) {
		t.Helper()
		require.Equal(t, want, subset(a, b), "%v in %v", a, b)
	}
	f(nil, nil, true)
	f(nil, []uint64{1}, true)
	f([]uint64{1}, nil, false)
	f([]uint64{1, 3}, []uint64{1, 2, 3}, true)
	f([]uint64{1, 4}, []uint64{1, 2, 3}, false)
	f([]uint64{1, 2, 3}, []uint64{1, 2}, false)
	f([]uint64{1 << 63, ^uint64(0)}, []uint64{5, 1 << 63, ^uint64(0)}, true)
}

func TestNotificationLogLogGet(t *testing.T) {
	ctx := context.Background()
	p := newMemPersister()
	l, err := NewNotificationLog(ctx, p, time.Hour)
	require.NoError(t, err)
	require.Nil(t, l.Get("k"))
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

	require.NoError(t, l.Log(ctx, "k", []uint64{1, 2}, []uint64{3}, now, 0))
	want := LogEntry{Key: "k", Firing: []uint64{1, 2}, Resolved: []uint64{3}, SentAt: now, ExpiresAt: now.Add(time.Hour)}
	require.Equal(t, &want, l.Get("k"))
	got, ok := p.get("k")
	require.True(t, ok, "written through before Log returns")
	require.Equal(t, want, got)
	require.Equal(t, 1, l.Len())

	// A later notification replaces the entry.
	require.NoError(t, l.Log(ctx, "k", nil, []uint64{1, 2, 3}, now.Add(time.Minute), 0))
	require.Equal(t, now.Add(time.Minute), l.Get("k").SentAt)
	require.Empty(t, l.Get("k").Firing)
	require.Equal(t, 1, l.Len())

	// A new log loaded from the persister has the same entries.
	l2, err := NewNotificationLog(ctx, p, time.Hour)
	require.NoError(t, err)
	require.Equal(t, l.Get("k"), l2.Get("k"))
}

func TestNotificationLogFailingPersister(t *testing.T) {
	ctx := context.Background()
	p := newMemPersister()
	l, err := NewNotificationLog(ctx, p, time.Hour)
	require.NoError(t, err)
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, l.Log(ctx, "k", []uint64{1}, nil, now, 0))
	before := *l.Get("k")

	boom := errors.New("disk full")
	p.err = boom
	require.ErrorIs(t, l.Log(ctx, "k", []uint64{1, 2}, nil, now.Add(time.Minute), 0), boom)
	require.ErrorIs(t, l.Log(ctx, "other", []uint64{1}, nil, now, 0), boom)
	// Memory is unchanged: the entry was not written, so dedup must not
	// believe it was.
	require.Equal(t, &before, l.Get("k"))
	require.Nil(t, l.Get("other"))
	require.Equal(t, 1, l.Len())

	// GC that cannot delete durably deletes nothing.
	n, err := l.GC(ctx, now.Add(2*time.Hour))
	require.ErrorIs(t, err, boom)
	require.Zero(t, n)
	require.Equal(t, &before, l.Get("k"))

	// Loading fails with the persister's error.
	_, err = NewNotificationLog(ctx, p, time.Hour)
	require.ErrorIs(t, err, boom)
}

func TestNotificationLogGC(t *testing.T) {
	ctx := context.Background()
	p := newMemPersister()
	l, err := NewNotificationLog(ctx, p, time.Hour)
	require.NoError(t, err)
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, l.Log(ctx, "old", []uint64{1}, nil, now, 0))
	require.NoError(t, l.Log(ctx, "new", []uint64{1}, nil, now.Add(30*time.Minute), 0))

	n, err := l.GC(ctx, now.Add(59*time.Minute))
	require.NoError(t, err)
	require.Zero(t, n)
	saves := p.saves
	// Nothing expired: no write at all.
	n, err = l.GC(ctx, now.Add(59*time.Minute))
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, saves, p.saves)

	// Expiry is inclusive: an entry expiring at now is gone.
	n, err = l.GC(ctx, now.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Nil(t, l.Get("old"))
	require.NotNil(t, l.Get("new"))
	_, ok := p.get("old")
	require.False(t, ok, "deleted durably")
	_, ok = p.get("new")
	require.True(t, ok)
}

func TestNotificationLogMemoryOnly(t *testing.T) {
	ctx := context.Background()
	l, err := NewNotificationLog(ctx, nil, time.Minute)
	require.NoError(t, err)
	now := time.Now()
	require.NoError(t, l.Log(ctx, "k", []uint64{1}, nil, now, 0))
	require.NotNil(t, l.Get("k"))
	n, err := l.GC(ctx, now.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Zero(t, l.Len())
}

func TestNotifyReasonString(t *testing.T) {
	// Every reason has a name; the exact strings are Alertmanager's (see
	// bugs_test.go).
	for r := NoNotification; r <= ReasonRepeat; r++ {
		require.NotEmpty(t, r.String())
	}
	require.Equal(t, "none", NoNotification.String())
}
