package silences

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
)

// DefaultRetention is how long expired silences are kept when
// Options.Retention is zero (Alertmanager's --data.retention default).
const DefaultRetention = 120 * time.Hour

// DefaultGCInterval is how often Run collects garbage when
// Options.GCInterval is zero (Alertmanager's --data.maintenance-interval).
const DefaultGCInterval = 15 * time.Minute

// Persister makes silences durable. It is implemented by the storage
// package; a nil Persister keeps silences in memory only.
type Persister interface {
	// LoadSilences returns every stored silence.
	LoadSilences(ctx context.Context) ([]Silence, error)
	// SaveSilences writes upserts and deletes in one durable transaction.
	SaveSilences(ctx context.Context, upsert []Silence, deleteIDs []string) error
}

// Options configure a Store.
type Options struct {
	Persister  Persister             // nil: memory only
	Now        func() time.Time      // clock; default time.Now
	Retention  time.Duration         // how long expired silences are kept; default DefaultRetention
	GCInterval time.Duration         // how often Run collects garbage; default DefaultGCInterval
	Logger     *slog.Logger          // default: discard
	Registerer prometheus.Registerer // nil: no metrics
}

func (o *Options) validate() error {
	if o.Retention < 0 {
		return fmt.Errorf("silence retention %v is negative", o.Retention)
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.GCInterval <= 0 {
		o.GCInterval = DefaultGCInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Store holds all silences, long-lived across reloads.
//
// Concurrency: writers (Set, Expire, GC) hold writeMu from their decision,
// through the Persister's write, to publishing the result, so a decision
// is never made on state that another writer is about to change and
// memory never runs ahead of disk. Readers (Get, Query, metrics) read the
// silences map under mu; writers, the only ones to change it, read it under
// writeMu alone and take mu only for the moment of publishing, so that no
// reader waits for a disk write. Mutes takes no
// lock at all: it reads the index through an atomic pointer, and each
// publication swaps in a new index.
type Store struct {
	persister Persister
	now       func() time.Time
	retention time.Duration
	// gcInterval is how often Run collects garbage.
	gcInterval time.Duration
	logger     *slog.Logger
	gcDeleted  prometheus.Counter
	seed       maphash.Seed

	writeMu sync.Mutex

	mu       sync.RWMutex
	silences map[string]*entry

	index   atomic.Pointer[index]
	version atomic.Uint64
}

// New returns a store holding the silences the Persister has. It starts
// no goroutines: call Run for garbage collection.
func New(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := &Store{
		persister: opts.Persister,
		now:       opts.Now,
		retention: opts.Retention, gcInterval: opts.GCInterval,
		logger:   opts.Logger.With("component", "silences"),
		seed:     maphash.MakeSeed(),
		silences: make(map[string]*entry),
		gcDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alerter_silences_gc_deleted_total",
			Help: "Expired silences deleted after their retention.",
		}),
	}
	if s.persister != nil {
		loaded, err := s.persister.LoadSilences(ctx)
		if err != nil {
			return nil, fmt.Errorf("load silences: %w", err)
		}
		for _, sil := range loaded {
			if sil.ID == "" {
				return nil, errors.New("load silences: a stored silence has no ID")
			}
			if sil.Matchers, err = normalizeMatchers(sil.Matchers); err != nil {
				return nil, fmt.Errorf("load silence %s: %w", sil.ID, err)
			}
			s.silences[sil.ID] = newEntry(sil)
		}
	}
	s.index.Store(buildIndex(s.seed, s.silences, s.now()))
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{s.gcDeleted, &collector{s}} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register silence metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Set creates or updates a silence and returns its ID, following
// Alertmanager's API. With an empty ID it creates a silence (a StartsAt in
// the past, or none, means now). With the ID of a pending or active
// silence it updates it in place if that does not rewrite history (see
// canUpdate); otherwise it expires that silence and creates a new one, whose
// ID it returns. The update of an expired silence creates a new one.
//
// The change is durable when Set returns nil; if it returns an error,
// nothing changed. A *ValidationError means the silence was wrong.
func (s *Store) Set(ctx context.Context, sil Silence) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if sil.ID == "" {
		return s.create(ctx, sil)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	now := s.now()
	if err := prepare(&sil, now); err != nil {
		return "", err
	}
	var prev *Silence
	if sil.ID != "" {
		e := s.silences[sil.ID]
		if e == nil {
			return "", fmt.Errorf("silence %s: %w", sil.ID, ErrNotFound)
		}
		prev = &e.Silence
		if prev.State(now) == StateExpired {
			// As in Alertmanager (and what `amtool silence import` of
			// an old export relies on): the expired silence stays as it
			// is, and the update becomes a new silence.
			prev = nil
		} else if canUpdate(prev, &sil, now) {
			if prev.State(now) == StateActive {
				sil.StartsAt = prev.StartsAt // equal to the second; keep it exact
			}
			if err := s.commit(ctx, []*Silence{&sil}, nil); err != nil {
				return "", err
			}
			s.logSilence("silence updated", &sil)
			return sil.ID, nil
		}
	}

	id, err := uuid.NewRandom()
	if err != nil {
		return "", fmt.Errorf("silence ID: %w", err)
	}
	sil.ID = id.String()
	sil.Replaces = ""
	if prev != nil {
		sil.Replaces = prev.ID
	}
	if sil.StartsAt.Before(now) {
		sil.StartsAt = now
	}
	upsert := []*Silence{&sil}
	if prev != nil {
		// Keep the old silence, expired, as the history of what was muted.
		upsert = append(upsert, expireAt(prev, now))
	}
	if err := s.commit(ctx, upsert, nil); err != nil {
		return "", err
	}
	if prev != nil {
		s.logSilence("silence replaced", &sil, "replaced", prev.ID)
	} else {
		s.logSilence("silence created", &sil)
	}
	return sil.ID, nil
}

// create stores a new silence. It writes without holding writeMu, so that
// concurrent creations share one fsync (the storage's group commit); a new
// ID conflicts with nothing, and only publishing takes the lock.
func (s *Store) create(ctx context.Context, sil Silence) (string, error) {
	now := s.now()
	if err := prepare(&sil, now); err != nil {
		return "", err
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return "", fmt.Errorf("silence ID: %w", err)
	}
	sil.ID = id.String()
	sil.Replaces = ""
	if sil.StartsAt.Before(now) {
		sil.StartsAt = now
	}
	if err := s.persist(ctx, []*Silence{&sil}, nil); err != nil {
		return "", err
	}
	s.writeMu.Lock()
	s.publish([]*Silence{&sil}, nil)
	s.writeMu.Unlock()
	s.logSilence("silence created", &sil)
	return sil.ID, nil
}

// prepare validates sil as Set receives it, at now, and takes a copy of
// its matchers.
func prepare(sil *Silence, now time.Time) error {
	if sil.StartsAt.IsZero() {
		sil.StartsAt = now
	}
	if err := sil.Validate(); err != nil {
		return err
	}
	var err error
	if sil.Matchers, err = normalizeMatchers(sil.Matchers); err != nil {
		return &ValidationError{Msg: "invalid matcher", Err: err} // Validate caught these already
	}
	if !sil.EndsAt.After(now) {
		return invalid("end time must be in the future")
	}
	sil.UpdatedAt = now
	return nil
}

// canUpdate reports whether prev can become next in place without changing
// what the silence muted so far, as Alertmanager's canUpdate: the matchers
// stay; a pending silence may move its start (not into the past) and end;
// an active silence keeps its start and may only move its end, not into
// the past.
func canUpdate(prev, next *Silence, now time.Time) bool {
	if !sameMatchers(prev.Matchers, next.Matchers) {
		return false
	}
	switch prev.State(now) {
	case StatePending:
		return !next.StartsAt.Before(now)
	case StateActive:
		// The start is compared to the second, as Alertmanager does: API
		// clients round times.
		return prev.StartsAt.Unix() == next.StartsAt.Unix() && !next.EndsAt.Before(now)
	default:
		return false
	}
}

// expireAt returns a copy of sil expired at now: an active silence ends
// now; a pending one is moved to start and end now, so that it never
// muted anything.
func expireAt(sil *Silence, now time.Time) *Silence {
	e := sil.clone()
	if e.StartsAt.After(now) {
		e.StartsAt = now
	}
	e.EndsAt = now
	e.UpdatedAt = now
	return &e
}

// Expire ends the silence with the given ID now. It returns an error
// wrapping ErrNotFound for an unknown ID and ErrExpired (in a
// *ValidationError) if the silence has already expired.
func (s *Store) Expire(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	now := s.now()
	e := s.silences[id]
	if e == nil {
		return fmt.Errorf("silence %s: %w", id, ErrNotFound)
	}
	if e.State(now) == StateExpired {
		return &ValidationError{Msg: "silence " + id, Err: ErrExpired}
	}
	exp := expireAt(&e.Silence, now)
	if err := s.commit(ctx, []*Silence{exp}, nil); err != nil {
		return err
	}
	s.logSilence("silence expired", exp)
	return nil
}

// commit persists upserts and deletes, then publishes them. The caller
// holds writeMu.
func (s *Store) commit(ctx context.Context, upsert []*Silence, deleteIDs []string) error {
	if err := s.persist(ctx, upsert, deleteIDs); err != nil {
		return err
	}
	s.publish(upsert, deleteIDs)
	return nil
}

// persist writes a change durably.
func (s *Store) persist(ctx context.Context, upsert []*Silence, deleteIDs []string) error {
	if s.persister == nil {
		return nil
	}
	vals := make([]Silence, len(upsert))
	for i, sil := range upsert {
		vals[i] = sil.clone()
	}
	// Once a write has begun, wait for its outcome even if the caller
	// gives up: a write that commits after we returned an error would
	// leave disk ahead of memory (a silence that appears on restart).
	if err := s.persister.SaveSilences(context.WithoutCancel(ctx), vals, deleteIDs); err != nil {
		return fmt.Errorf("save silences: %w", err)
	}
	return nil
}

// publish makes a persisted change visible. The caller holds writeMu.
func (s *Store) publish(upsert []*Silence, deleteIDs []string) {
	remove := slices.Clone(deleteIDs)
	entries := make([]*entry, len(upsert))
	for i, sil := range upsert {
		remove = append(remove, sil.ID)
		entries[i] = newEntry(*sil)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range deleteIDs {
		delete(s.silences, id)
	}
	for _, e := range entries {
		s.silences[e.ID] = e
	}
	s.index.Store(s.index.Load().update(remove, entries, now))
	s.version.Add(1)
}

func (s *Store) logSilence(msg string, sil *Silence, extra ...any) {
	s.logger.Info(msg, append([]any{"id", sil.ID, "matchers", sil.Matchers.String(),
		"starts_at", sil.StartsAt, "ends_at", sil.EndsAt, "created_by", sil.CreatedBy}, extra...)...)
}

// Get returns the silence with the given ID, or an error wrapping
// ErrNotFound.
func (s *Store) Get(id string) (Silence, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.silences[id]
	if !ok {
		return Silence{}, fmt.Errorf("silence %s: %w", id, ErrNotFound)
	}
	return e.clone(), nil
}

// Mutes returns the sorted IDs of the silences active now that match
// lset (a missing label matches as the empty value), or nil. It takes no
// lock and, when nothing matches, does not allocate.
func (s *Store) Mutes(lset model.LabelSet) []string {
	ids := s.index.Load().mutes(nil, lset, s.now())
	slices.Sort(ids)
	return ids
}

// Version returns a number that changes whenever the silences change, so
// that callers can cache what Mutes told them.
func (s *Store) Version() uint64 { return s.version.Load() }

// GC deletes the silences that expired more than the retention ago, from
// disk first, and returns how many it deleted.
func (s *Store) GC(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	now := s.now()
	var del []string
	for id, e := range s.silences {
		if now.Sub(e.EndsAt) > s.retention {
			del = append(del, id)
		}
	}
	slices.Sort(del)
	if len(del) > 0 {
		if err := s.commit(ctx, nil, del); err != nil {
			return 0, fmt.Errorf("silence GC: %w", err)
		}
		s.gcDeleted.Add(float64(len(del)))
	}
	// Silences that expired with time (not by Expire) are still indexed;
	// a rebuild drops them. What Mutes returns does not change. Holding
	// writeMu, we may read the map without mu: only writers change it.
	s.index.Store(buildIndex(s.seed, s.silences, now))
	return len(del), nil
}

// Run collects garbage every 15 minutes until ctx is done.
func (s *Store) Run(ctx context.Context) {
	t := time.NewTicker(s.gcInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.GC(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			s.logger.Debug("silence GC cancelled", "err", err)
			return
		case err != nil:
			s.logger.Error("silence GC failed", "err", err)
		case n > 0:
			s.logger.Debug("silence GC", "deleted", n)
		}
	}
}

// Sync makes memory what the persister holds now: silences that another
// process sharing the database made, changed or deleted since the last
// Sync (or New) become visible here; the store's own are already. It is
// for replicas sharing a database (see RunSync) and returns how many
// silences changed.
func (s *Store) Sync(ctx context.Context) (int, error) {
	if s.persister == nil {
		return 0, nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	stored, err := s.persister.LoadSilences(ctx)
	if err != nil {
		return 0, fmt.Errorf("sync silences: %w", err)
	}
	seen := make(map[string]bool, len(stored))
	var upsert []*Silence
	for _, sil := range stored {
		seen[sil.ID] = true
		// Most are unchanged: compare before compiling their matchers.
		if e, ok := s.silences[sil.ID]; ok && sameSilence(&e.Silence, &sil) {
			continue
		}
		if sil.Matchers, err = normalizeMatchers(sil.Matchers); err != nil {
			s.logger.Warn("A stored silence cannot be read; it is left out", "id", sil.ID, "err", err)
			continue
		}
		upsert = append(upsert, &sil)
	}
	// Holding writeMu, the map may be read without mu: only writers change it.
	var gone []string
	for id := range s.silences {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	if len(upsert) == 0 && len(gone) == 0 {
		return 0, nil
	}
	slices.Sort(gone)
	s.publish(upsert, gone)
	return len(upsert) + len(gone), nil
}

// sameSilence reports whether a and b say the same.
func sameSilence(a, b *Silence) bool {
	return a.ID == b.ID && a.StartsAt.Equal(b.StartsAt) && a.EndsAt.Equal(b.EndsAt) &&
		a.UpdatedAt.Equal(b.UpdatedAt) && a.CreatedBy == b.CreatedBy && a.Comment == b.Comment &&
		sameMatchers(a.Matchers, b.Matchers)
}

// RunSync calls Sync every interval until ctx is done, so that the
// silences of replicas sharing the database apply here within about an
// interval.
func (s *Store) RunSync(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.Sync(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			failing = true
			s.logger.Error("Reading the shared silences failed; the last ones read still apply", "err", err)
		case err == nil && failing:
			failing = false
			s.logger.Info("Reading the shared silences works again")
		}
		if n > 0 {
			s.logger.Debug("silences synced from the database", "changed", n)
		}
	}
}
