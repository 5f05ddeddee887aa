package dispatch

import (
	"context"
	"slices"
	"sync"
	"time"
)

// LogEntry records the last successful notification of one integration of
// one receiver for one aggregation group: which alerts were firing and which
// resolved in it, and when it was sent. Pending holds the firing alerts of
// notifications that were started and not confirmed since: written before
// a notification is sent, so that a crash after the receiver took it and
// before its confirmation was written is not mistaken for "never sent".
type LogEntry struct {
	Key      string
	Firing   []uint64 // sorted fingerprints
	Resolved []uint64 // sorted fingerprints
	SentAt   time.Time
	// Pending are the firing alerts (sorted fingerprints) that a receiver
	// may have been told about, unconfirmed; PendingAt when the latest such
	// notification was started. Cleared by the next confirmed notification.
	Pending   []uint64
	PendingAt time.Time
	ExpiresAt time.Time
	// Versions are the update times (Unix nanoseconds) of the notified
	// alerts as the sender held them: Firing's, then Resolved's, in their
	// order; empty when not recorded. Replicas sharing the log compare
	// their own alerts with them (see staleView).
	Versions []int64
	// Release, when writing an entry of a shared log, is the owner of
	// the claim that the write ends (see Claimer); not stored.
	Release string
}

// LogPersister stores the notification log durably.
type LogPersister interface {
	LoadNotificationLog(ctx context.Context) ([]LogEntry, error)
	// SaveNotificationLog writes entries and, unless expiredBy is zero,
	// deletes every entry that expired by then, in one durable
	// transaction. The delete is by expiry, not by key, so that it never
	// removes an entry written again meanwhile.
	SaveNotificationLog(ctx context.Context, entries []LogEntry, expiredBy time.Time) error
}

// NotificationLog is the dedup record of what was sent, kept in memory and
// written through to a LogPersister before Log returns, so that a restart
// never sends a notification again within repeat_interval.
type NotificationLog struct {
	persister LogPersister
	retention time.Duration

	mu      sync.RWMutex
	entries map[string]*LogEntry

	// shared is set when replicas share the log (Share).
	shared *sharing
}

// NewNotificationLog loads the log from p (nil: memory only). Entries live
// for retention after their last notification.
func NewNotificationLog(ctx context.Context, p LogPersister, retention time.Duration) (*NotificationLog, error) {
	l := &NotificationLog{persister: p, retention: retention, entries: map[string]*LogEntry{}}
	if p == nil {
		return l, nil
	}
	es, err := p.LoadNotificationLog(ctx)
	if err != nil {
		return nil, err
	}
	for i := range es {
		l.entries[es[i].Key] = &es[i]
	}
	return l, nil
}

// Get returns the entry for key, or nil.
func (l *NotificationLog) Get(key string) *LogEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.entries[key]
}

// Log records a successful notification. The entry expires after expiry
// (Alertmanager passes twice the repeat_interval), or after the log's
// retention if that is shorter or expiry is 0. It is durable when Log
// returns.
func (l *NotificationLog) Log(ctx context.Context, key string, firing, resolved []uint64, now time.Time, expiry time.Duration) error {
	return l.confirm(ctx, key, "", firing, resolved, nil, now, expiry)
}

// confirm is Log that also ends the claim of owner on the entry.
func (l *NotificationLog) confirm(ctx context.Context, key, owner string, firing, resolved []uint64, versions []int64, now time.Time, expiry time.Duration) error {
	e := &LogEntry{Key: key, Firing: firing, Resolved: resolved, Versions: versions, SentAt: now, ExpiresAt: now.Add(l.expiry(expiry)), Release: owner}
	return l.write(ctx, e)
}

// Intend records, before a notification is sent, that the receiver may
// learn of the firing alerts: if the process dies before Log confirms the
// notification, the entry still says that a resolve is owed for them. The
// entry's confirmed part is kept. It is durable when Intend returns.
func (l *NotificationLog) Intend(ctx context.Context, key string, firing []uint64, now time.Time, expiry time.Duration) error {
	e := &LogEntry{Key: key, PendingAt: now, ExpiresAt: now.Add(l.expiry(expiry))}
	l.mu.RLock()
	if prev := l.entries[key]; prev != nil {
		e.Firing, e.Resolved, e.SentAt, e.Versions = prev.Firing, prev.Resolved, prev.SentAt, prev.Versions
		e.Pending = union(prev.Pending, firing)
		e.ExpiresAt = maxTime(e.ExpiresAt, prev.ExpiresAt)
	} else {
		e.Pending = firing
	}
	l.mu.RUnlock()
	if e.Pending == nil {
		e.Pending = []uint64{}
	}
	return l.write(ctx, e)
}

// expiry bounds an entry's expiry by the log's retention.
func (l *NotificationLog) expiry(d time.Duration) time.Duration {
	if d <= 0 || d > l.retention {
		return l.retention
	}
	return d
}

// write persists e and then makes it the entry of its key.
func (l *NotificationLog) write(ctx context.Context, e *LogEntry) error {
	if l.persister != nil {
		if err := l.persister.SaveNotificationLog(ctx, []LogEntry{*e}, time.Time{}); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.entries[e.Key] = e
	l.mu.Unlock()
	return nil
}

// union returns the sorted union of two sorted lists.
func union(a, b []uint64) []uint64 {
	out := make([]uint64, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Len returns the number of entries.
func (l *NotificationLog) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.entries)
}

// GC deletes entries that expired before now.
func (l *NotificationLog) GC(ctx context.Context, now time.Time) (int, error) {
	l.mu.RLock()
	var keys []string
	for k, e := range l.entries {
		if !e.ExpiresAt.After(now) {
			keys = append(keys, k)
		}
	}
	l.mu.RUnlock()
	if len(keys) == 0 {
		return 0, nil
	}
	if l.persister != nil {
		if err := l.persister.SaveNotificationLog(ctx, nil, now); err != nil {
			return 0, err
		}
	}
	l.mu.Lock()
	for _, k := range keys {
		if e := l.entries[k]; e != nil && !e.ExpiresAt.After(now) {
			delete(l.entries, k)
		}
	}
	l.mu.Unlock()
	return len(keys), nil
}

// NotifyReason says why a notification is due, or that none is.
type NotifyReason int

// The reasons, in the order needsUpdate checks them.
const (
	NoNotification    NotifyReason = iota
	ReasonFirst                    // nothing was sent for this group before
	ReasonNewFiring                // an alert fires that the last notification did not carry
	ReasonAllResolved              // every alert resolved after some were notified as firing
	ReasonNewResolved              // send_resolved and an alert resolved since
	ReasonRepeat                   // repeat_interval passed since the last notification
)

// String returns Alertmanager's name of the reason, which templates see as
// .NotificationReason.
func (r NotifyReason) String() string {
	switch r {
	case NoNotification:
		return "none"
	case ReasonFirst:
		return "first notification"
	case ReasonNewFiring:
		return "new alerts added"
	case ReasonAllResolved:
		return "all alerts resolved"
	case ReasonNewResolved:
		return "some alerts resolved"
	case ReasonRepeat:
		return "repeat interval elapsed"
	}
	return "unknown"
}

// needsUpdate is Alertmanager's dedup decision: whether an integration with
// the previous entry prev must be notified about the firing and resolved
// alerts (sorted fingerprints) now.
func needsUpdate(prev *LogEntry, firing, resolved []uint64, sendResolved bool, repeat time.Duration, now time.Time) NotifyReason {
	if prev == nil {
		if len(firing) > 0 {
			return ReasonFirst
		}
		return NoNotification
	}
	if !subset(firing, prev.Firing) {
		// After a notification that resolved everything, this is a new
		// start, as in Alertmanager 0.35.
		if len(prev.Firing) == 0 {
			return ReasonFirst
		}
		return ReasonNewFiring
	}
	if len(firing) == 0 {
		// Notify that everything resolved, whatever send_resolved says,
		// so that the log no longer holds firing alerts; unless nothing
		// was notified as firing, which the receiver never knew of. A
		// notification that may have reached the receiver unconfirmed
		// (Pending, left by a crash mid-send) counts as notified: a
		// receiver told of a firing alert must hear of its end.
		if len(prev.Firing) > 0 || len(prev.Pending) > 0 {
			return ReasonAllResolved
		}
		return NoNotification
	}
	if sendResolved && !subset(resolved, prev.Resolved) {
		return ReasonNewResolved
	}
	if prev.SentAt.Before(now.Add(-repeat)) {
		return ReasonRepeat
	}
	return NoNotification
}

// subset reports whether every element of a (sorted) is in b (sorted).
func subset(a, b []uint64) bool {
	if len(a) > len(b) {
		return false
	}
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			return false
		}
	}
	return true
}
