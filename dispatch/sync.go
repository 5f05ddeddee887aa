package dispatch

import (
	"context"
	"log/slog"
	"time"
)

// AlertSource returns the alerts that replicas sharing a database wrote
// since a cursor, and the cursor to ask from next time. It may return an
// alert again; Merge keeps the newest copy.
type AlertSource interface {
	AlertsChangedSince(ctx context.Context, cursor int64) ([]*Alert, int64, error)
}

// Merge stores alerts that other replicas received or produced (read from
// the shared database) and routes them. Unlike Put, it keeps the senders'
// times, skips an alert the store holds a newer copy of, and does not
// write the alerts back: they are in the database already.
func (s *Store) Merge(alerts []*Alert) {
	s.swap.RLock()
	defer s.swap.RUnlock()
	kept := alerts[:0]
	for _, a := range alerts {
		a.fp = a.Labels.Fingerprint()
		sh := s.shard(a.fp)
		sh.mu.Lock()
		if old, ok := sh.alerts[a.fp]; ok {
			if !a.UpdatedAt.After(old.UpdatedAt) {
				sh.mu.Unlock()
				continue
			}
			a = merge(old, a)
		} else if reason, _ := s.admit(a); reason != "" {
			sh.mu.Unlock()
			s.metrics.rejected(reason)
			continue
		}
		sh.alerts[a.fp] = a
		sh.mu.Unlock()
		kept = append(kept, a)
	}
	if s.disp != nil && len(kept) > 0 {
		s.disp.ingest(kept)
	}
}

// RunSync merges the alerts src reports changed, every interval, until
// ctx ends. A failed read is logged when it starts and when it ends, and
// retried with the same cursor.
func (s *Store) RunSync(ctx context.Context, src AlertSource, every time.Duration, logger *slog.Logger) {
	poll(ctx, every, logger, "the alerts of the other replicas", func(cursor int64) (int64, error) {
		alerts, next, err := src.AlertsChangedSince(ctx, cursor)
		if err == nil && len(alerts) > 0 {
			s.Merge(alerts)
		}
		return next, err
	})
}

// RunSync reads the entries the other replicas sharing the log wrote into
// this replica's view, every interval, until ctx ends: what it decides
// whether a notification is owed by (a claim then decides on the entry
// as shared). Without sharing it returns at once.
func (l *NotificationLog) RunSync(ctx context.Context, every time.Duration, logger *slog.Logger) {
	if l.shared == nil {
		return
	}
	poll(ctx, every, logger, "the notification log of the other replicas", func(cursor int64) (int64, error) {
		entries, next, err := l.shared.claimer.LogChangedSince(ctx, cursor)
		if err == nil {
			l.merge(entries)
		}
		return next, err
	})
}

// merge takes entries read from the shared log into the local view,
// unless the view holds the same one or a later one of the same key (this
// replica's own write, read back by an older snapshot).
func (l *NotificationLog) merge(entries []LogEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range entries {
		e := &entries[i]
		if old, ok := l.entries[e.Key]; ok && !newer(e, old) {
			continue
		}
		l.entries[e.Key] = e
	}
}

// newer reports whether entry e was written after old: its notification
// or its intent (the write before a send) is later; at the same time (a
// flush writes its intent and its confirmation with the flush's time), the
// confirmation is the later write.
func newer(e, old *LogEntry) bool {
	te, to := latest(e), latest(old)
	if !te.Equal(to) {
		return te.After(to)
	}
	return isConfirmed(e) && !isConfirmed(old)
}

// latest is when e was last written: its notification or its intent.
func latest(e *LogEntry) time.Time {
	if e.PendingAt.After(e.SentAt) {
		return e.PendingAt
	}
	return e.SentAt
}

// isConfirmed reports whether e's last write confirmed a notification.
func isConfirmed(e *LogEntry) bool { return !e.SentAt.Before(e.PendingAt) }

// poll calls read with a cursor every interval until ctx ends, and takes
// the next cursor from it. A failed read (of what) is logged when it
// starts and when it ends, and retried with the same cursor.
func poll(ctx context.Context, every time.Duration, logger *slog.Logger, what string, read func(cursor int64) (int64, error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	var cursor int64
	failing := false
	for {
		next, err := read(cursor)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				failing = true
				logger.Error("Reading "+what+" failed; retried", "err", err)
			}
		default:
			if failing {
				failing = false
				logger.Info("Reading " + what + " works again")
			}
			cursor = next
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
