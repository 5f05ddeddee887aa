package dispatch

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

const storeShards = 32

// Store keeps every received alert by fingerprint and hands each one, as
// merged, to the current Dispatcher. It is long-lived: it survives reloads,
// and a new Dispatcher is loaded from it. Alerts are kept in memory and,
// with a persister (Restore), written behind to it by Persist, so that a
// restart starts with the alerts it had: groups and inhibitions are whole
// at the first flush instead of being rebuilt as senders re-send.
type Store struct {
	now            func() time.Time
	resolveTimeout time.Duration
	limits         StoreLimits
	metrics        *Metrics

	// dirtyMu guards what Persist writes next: the fingerprints of alerts
	// changed (dirty) and dropped (gone) since the last write.
	dirtyMu   sync.Mutex
	persister AlertPersister
	dirty     map[model.Fingerprint]struct{}
	gone      map[model.Fingerprint]struct{}
	savedAt   time.Time

	// countMu guards count and byName; taken after a shard's lock.
	countMu sync.Mutex
	count   int
	byName  map[model.LabelValue]int // alerts per alertname, with a per-alertname limit

	// swap is held for reading by Put and for writing while the
	// dispatcher is replaced, so that no alert reaches the old
	// dispatcher after the new one was loaded.
	swap   sync.RWMutex
	disp   *Dispatcher
	shards [storeShards]storeShard
}

type storeShard struct {
	mu     sync.RWMutex
	alerts map[model.Fingerprint]*Alert
}

// NewStore returns an empty store. resolveTimeout is the end given to
// alerts received without one; now is the clock (time.Now if nil).
func NewStore(resolveTimeout time.Duration, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	s := &Store{now: now, resolveTimeout: resolveTimeout}
	for i := range s.shards {
		s.shards[i].alerts = map[model.Fingerprint]*Alert{}
	}
	return s
}

func (s *Store) shard(fp model.Fingerprint) *storeShard {
	return &s.shards[uint64(fp)%storeShards]
}

// SetResolveTimeout changes the end given to alerts received without one
// (global.resolve_timeout, which a reload may change).
func (s *Store) SetResolveTimeout(d time.Duration) {
	s.swap.Lock()
	s.resolveTimeout = d
	s.swap.Unlock()
}

// StoreLimits bound what a Store keeps, so that a flood of alerts cannot
// exhaust memory; zero means no limit. Alerts already stored are always
// updated; only new ones are refused.
type StoreLimits struct {
	// Alerts is the most alerts stored, resolved ones included until
	// they are collected.
	Alerts int
	// PerAlertName is the most alerts stored with one alertname
	// (Alertmanager's --alerts.per-alertname-limit).
	PerAlertName int
}

// Reasons for refusing an alert, as alerter_alerts_rejected_total counts them.
const (
	RejectAlertsLimit       = "alerts_limit"
	RejectPerAlertNameLimit = "per_alertname_limit"
)

// LimitError reports the alerts of one Put that the store refused.
type LimitError struct {
	Refused, Total int
	// Reason is the reason of the first refusal; Limit its limit.
	Reason string
	Limit  int
	// AlertName is the alertname that reached its limit, for
	// RejectPerAlertNameLimit.
	AlertName model.LabelValue
}

func (e *LimitError) Error() string {
	if e.Reason == RejectPerAlertNameLimit {
		return fmt.Sprintf("%d of %d alerts refused: the store holds its limit of %d alerts named %q", e.Refused, e.Total, e.Limit, e.AlertName)
	}
	return fmt.Sprintf("%d of %d alerts refused: the store holds its limit of %d alerts", e.Refused, e.Total, e.Limit)
}

// SetLimits sets the store's limits and the metrics that count what they
// refuse. Call it before the store is used.
func (s *Store) SetLimits(l StoreLimits, m *Metrics) {
	s.limits, s.metrics = l, m
	if l.PerAlertName > 0 {
		s.byName = map[model.LabelValue]int{}
	}
}

// Put stores alerts (already validated), merging each with the stored alert
// of the same labels, and routes them. It takes ownership of alerts. New
// alerts beyond the store's limits are refused: the error is a *LimitError
// and the others are stored.
func (s *Store) Put(alerts []*Alert) error {
	s.swap.RLock()
	defer s.swap.RUnlock()
	now := s.now()
	var lerr *LimitError
	for i, a := range alerts {
		a.prepare(now, s.resolveTimeout)
		sh := s.shard(a.fp)
		sh.mu.Lock()
		if old, ok := sh.alerts[a.fp]; ok {
			a = merge(old, a)
		} else if reason, limit := s.admit(a); reason != "" {
			sh.mu.Unlock()
			if lerr == nil {
				lerr = &LimitError{Total: len(alerts), Reason: reason, Limit: limit, AlertName: a.Labels[model.AlertNameLabel]}
			}
			lerr.Refused++
			s.metrics.rejected(reason)
			alerts[i] = nil
			continue
		}
		sh.alerts[a.fp] = a
		sh.mu.Unlock()
		alerts[i] = a
	}
	if lerr != nil {
		alerts = slices.DeleteFunc(alerts, func(a *Alert) bool { return a == nil })
	}
	s.markDirty(alerts)
	if s.disp != nil && len(alerts) > 0 {
		s.disp.ingest(alerts)
	}
	if lerr != nil {
		return lerr
	}
	return nil
}

// admit counts a new alert in, or returns the reason and limit that
// refuse it. The caller holds the alert's shard lock.
func (s *Store) admit(a *Alert) (reason string, limit int) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	if s.limits.Alerts > 0 && s.count >= s.limits.Alerts {
		return RejectAlertsLimit, s.limits.Alerts
	}
	name := a.Labels[model.AlertNameLabel]
	if s.byName != nil && s.byName[name] >= s.limits.PerAlertName {
		return RejectPerAlertNameLimit, s.limits.PerAlertName
	}
	s.count++
	if s.byName != nil {
		s.byName[name]++
	}
	return "", 0
}

// release counts a dropped alert out. The caller holds its shard lock.
func (s *Store) release(a *Alert) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	s.count--
	if s.byName != nil {
		name := a.Labels[model.AlertNameLabel]
		if s.byName[name]--; s.byName[name] <= 0 {
			delete(s.byName, name)
		}
	}
}

// Get returns the stored alert with fingerprint fp.
func (s *Store) Get(fp model.Fingerprint) (*Alert, bool) {
	sh := s.shard(fp)
	sh.mu.RLock()
	a, ok := sh.alerts[fp]
	sh.mu.RUnlock()
	return a, ok
}

// List calls f for every stored alert, in no particular order, until f
// returns false.
func (s *Store) List(f func(*Alert) bool) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		batch := make([]*Alert, 0, len(sh.alerts))
		for _, a := range sh.alerts {
			batch = append(batch, a)
		}
		sh.mu.RUnlock()
		for _, a := range batch {
			if !f(a) {
				return
			}
		}
	}
}

// Len returns the number of stored alerts.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.alerts)
		sh.mu.RUnlock()
	}
	return n
}

// SetDispatcher makes d the dispatcher that receives alerts, loading it with
// every stored alert first, and returns the previous one (for the caller to
// stop), or nil.
func (s *Store) SetDispatcher(d *Dispatcher) *Dispatcher {
	s.swap.Lock()
	defer s.swap.Unlock()
	if d != nil {
		var all []*Alert
		s.List(func(a *Alert) bool { all = append(all, a); return true })
		d.ingest(all)
	}
	old := s.disp
	s.disp = d
	return old
}

// GC drops alerts that were resolved before now, as Alertmanager's alert GC
// does; aggregation groups keep their own references until they have sent
// the resolution. It returns how many were dropped.
func (s *Store) GC() int {
	s.swap.RLock()
	defer s.swap.RUnlock()
	now := s.now()
	var dropped []*Alert
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for fp, a := range sh.alerts {
			if a.ResolvedAt(now) {
				delete(sh.alerts, fp)
				s.release(a)
				dropped = append(dropped, a)
			}
		}
		sh.mu.Unlock()
	}
	s.markGone(dropped)
	if s.disp != nil {
		s.disp.forget(dropped)
	}
	return len(dropped)
}
