package dispatch

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// AlertPersister keeps a Store's alerts across restarts.
type AlertPersister interface {
	// LoadAlerts returns the saved alerts and when they were last saved
	// (zero if never).
	LoadAlerts(ctx context.Context) ([]*Alert, time.Time, error)
	// SaveAlerts writes upserts, deletes the alerts of deleted and records
	// savedAt, in one durable transaction.
	SaveAlerts(ctx context.Context, upsert []*Alert, deleted []model.Fingerprint, savedAt time.Time) error
}

// persistIdle is how often Persist records that the store is alive when no
// alert changed, so that a restart can tell the alerts that ended before
// the stop from those whose end passed while alerter was down.
const persistIdle = time.Minute

// Restore loads the alerts p saved and makes p the store's persister, for
// Persist to write changes to. Call it before the store is used, before a
// dispatcher is set: the first dispatcher gets every restored alert at once,
// so that inhibitions and groups are whole from the first flush (restored
// alerts are not re-routed one by one as their senders re-send them).
//
// An alert whose end passed while alerter was down is unknown, not ended:
// its sender may have tried to re-send it meanwhile. It is restored with an
// end resolve_timeout from now, as an alert without an end, so that a
// sender that re-sends it keeps it firing (and one that sends its end ends
// it) without a false resolve in between. Alerts that ended before the
// stop stay ended.
func (s *Store) Restore(ctx context.Context, p AlertPersister) (int, error) {
	return s.restore(ctx, p, false)
}

// RestoreLive is Restore for a replica joining others that share p and
// are running: the saved alerts are as they keep them, and none ended
// while this one was down (an end that passed is an end).
func (s *Store) RestoreLive(ctx context.Context, p AlertPersister) (int, error) {
	return s.restore(ctx, p, true)
}

func (s *Store) restore(ctx context.Context, p AlertPersister, live bool) (int, error) {
	alerts, savedAt, err := p.LoadAlerts(ctx)
	if err != nil {
		return 0, fmt.Errorf("read saved alerts: %w", err)
	}
	now := s.now()
	if live {
		savedAt = now
	}
	restored := 0
	for _, a := range alerts {
		a.fp = a.Labels.Fingerprint()
		if a.EndsAt.After(savedAt) && !a.EndsAt.After(now) {
			a.EndsAt, a.Timeout = now.Add(s.resolveTimeout), true
		}
		sh := s.shard(a.fp)
		sh.mu.Lock()
		if _, dup := sh.alerts[a.fp]; !dup {
			if reason, _ := s.admit(a); reason == "" {
				sh.alerts[a.fp] = a
				restored++
			}
		}
		sh.mu.Unlock()
	}
	s.dirtyMu.Lock()
	s.persister, s.dirty, s.gone, s.savedAt = p, map[model.Fingerprint]struct{}{}, map[model.Fingerprint]struct{}{}, now
	s.dirtyMu.Unlock()
	return restored, nil
}

// markDirty records alerts changed since the last Persist.
func (s *Store) markDirty(alerts []*Alert) {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	if s.persister == nil {
		return
	}
	for _, a := range alerts {
		s.dirty[a.fp] = struct{}{}
		delete(s.gone, a.fp)
	}
}

// markGone records alerts dropped since the last Persist.
func (s *Store) markGone(alerts []*Alert) {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	if s.persister == nil {
		return
	}
	for _, a := range alerts {
		s.gone[a.fp] = struct{}{}
		delete(s.dirty, a.fp)
	}
}

// Persist writes the alerts that changed or were dropped since the last
// call, in one transaction: at most a second of alerts is lost to a crash
// when it is called every second (senders re-send them). It does nothing
// without a persister. A failed write is tried again at the next call.
func (s *Store) Persist(ctx context.Context) error {
	s.dirtyMu.Lock()
	p := s.persister
	now := s.now()
	if p == nil || (len(s.dirty) == 0 && len(s.gone) == 0 && now.Sub(s.savedAt) < persistIdle) {
		s.dirtyMu.Unlock()
		return nil
	}
	dirty, gone := s.dirty, s.gone
	s.dirty, s.gone = map[model.Fingerprint]struct{}{}, map[model.Fingerprint]struct{}{}
	s.dirtyMu.Unlock()

	upsert := make([]*Alert, 0, len(dirty))
	deleted := make([]model.Fingerprint, 0, len(gone))
	for fp := range dirty {
		if a, ok := s.Get(fp); ok {
			upsert = append(upsert, a)
		} else {
			deleted = append(deleted, fp)
		}
	}
	for fp := range gone {
		deleted = append(deleted, fp)
	}
	if err := p.SaveAlerts(ctx, upsert, deleted, now); err != nil {
		s.dirtyMu.Lock()
		// Keep what changed meanwhile; add back what was not written.
		for fp := range dirty {
			if _, g := s.gone[fp]; !g {
				s.dirty[fp] = struct{}{}
			}
		}
		for fp := range gone {
			if _, d := s.dirty[fp]; !d {
				s.gone[fp] = struct{}{}
			}
		}
		s.dirtyMu.Unlock()
		return fmt.Errorf("save alerts: %w", err)
	}
	s.dirtyMu.Lock()
	s.savedAt = now
	s.dirtyMu.Unlock()
	return nil
}

// pendingWrites returns how many alerts wait to be written, for tests.
func (s *Store) pendingWrites() int {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	return len(s.dirty) + len(s.gone)
}
