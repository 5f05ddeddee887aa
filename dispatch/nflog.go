package dispatch

import (
	"context"
	"slices"
	"sync"
	"time"
)

// LogEntry records the last successful notification of one integration of
// one receiver for one aggregation group: which alerts were firing and which
// resolved in it, and when it was sent.
type LogEntry struct {
	Key       string
	Firing    []uint64 // sorted fingerprints
	Resolved  []uint64 // sorted fingerprints
	SentAt    time.Time
	ExpiresAt time.Time
}

// LogPersister stores the notification log durably.
type LogPersister interface {
	LoadNotificationLog(ctx context.Context) ([]LogEntry, error)
	// SaveNotificationLog writes entries and deletes the keys in one
	// durable transaction.
	SaveNotificationLog(ctx context.Context, entries []LogEntry, deleteKeys []string) error
}

// NotificationLog is the dedup record of what was sent, kept in memory and
// written through to a LogPersister before Log returns, so that a restart
// never sends a notification again within repeat_interval.
type NotificationLog struct {
	persister LogPersister
	retention time.Duration

	mu      sync.RWMutex
	entries map[string]*LogEntry
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

// Log records a successful notification. It is durable when Log returns.
func (l *NotificationLog) Log(ctx context.Context, key string, firing, resolved []uint64, now time.Time) error {
	e := &LogEntry{Key: key, Firing: firing, Resolved: resolved, SentAt: now, ExpiresAt: now.Add(l.retention)}
	if l.persister != nil {
		if err := l.persister.SaveNotificationLog(ctx, []LogEntry{*e}, nil); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.entries[key] = e
	l.mu.Unlock()
	return nil
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
		if err := l.persister.SaveNotificationLog(ctx, nil, keys); err != nil {
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

func (r NotifyReason) String() string {
	return [...]string{"none", "first", "new firing", "all resolved", "new resolved", "repeat interval"}[r]
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
		return ReasonNewFiring
	}
	if len(firing) == 0 {
		// Notify that everything resolved, whatever send_resolved says,
		// so that the log no longer holds firing alerts; unless nothing
		// was notified as firing, which the receiver never knew of.
		if len(prev.Firing) > 0 {
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
