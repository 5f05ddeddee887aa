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
	t := time.NewTicker(every)
	defer t.Stop()
	var cursor int64
	failing := false
	for {
		alerts, next, err := src.AlertsChangedSince(ctx, cursor)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				failing = true
				logger.Error("Reading the alerts of the other replicas failed; retried", "err", err)
			}
		default:
			if failing {
				failing = false
				logger.Info("Reading the alerts of the other replicas works again")
			}
			cursor = next
			if len(alerts) > 0 {
				s.Merge(alerts)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
