package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alerter/alerter/storage"
	alerterweb "github.com/alerter/alerter/web"
)

// Replicas sharing a database announce themselves there every
// heartbeatInterval; a replica not heard from for peerTimeout is not a
// peer any more, and its row is deleted after peerForget.
//
// At each heartbeat a replica also balances the rule groups: each group
// is wanted by one live replica (rendezvous hashing of the replicas' IDs
// and the group's key), which takes its lease once it is free; the others
// give up the leases of groups they hold and do not want, and take a
// group whose lease ran out more than groupLease ago (its wanted replica
// does not take it). A lease lasts groupLease by the database's clock; a
// replica evaluates a group only until groupLeaseMargin before its lease
// can have run out, so that a replica cut off from the database stops
// before another takes the group over.
const (
	heartbeatInterval = time.Second
	peerTimeout       = 4 * time.Second
	peerForget        = time.Hour
	groupLease        = 4 * time.Second
	groupLeaseMargin  = time.Second
)

// membership is this process's entry among the replicas of a shared
// database, its view of the others, and the rule groups it evaluates.
type membership struct {
	db     *storage.DB
	self   storage.Replica
	logger *slog.Logger
	// groups returns the keys of the configured rule groups; nil: the
	// process evaluates no rules (no leases).
	groups func() []string
	joined atomic.Bool
	// live is the replicas as the last heartbeat found them.
	live atomic.Pointer[liveView]

	mu   sync.Mutex
	held map[string]heldLease
	term uint64

	// unclaimed counts, per group without a lease row, the heartbeats
	// that found it so: a group its wanted replica does not know (a
	// configuration not reloaded there yet) is taken by another.
	unclaimed map[string]int

	leasesHeld  prometheus.GaugeFunc
	leaseLosses prometheus.Counter
	heartbeats  *prometheus.CounterVec
}

// liveView is the IDs of the live replicas (this one first), a view that
// holds until until.
type liveView struct {
	ids   []string
	until time.Time
}

// heldLease is a group lease this replica holds: it may evaluate the group
// until until (local clock), in term.
type heldLease struct {
	until time.Time
	term  uint64
}

func newMembership(db *storage.DB, address string, logger *slog.Logger, reg prometheus.Registerer) *membership {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "alerter"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	now := time.Now()
	m := &membership{db: db, logger: logger,
		self: storage.Replica{ID: host + "-" + hex.EncodeToString(b), Address: address, StartedAt: now, SeenAt: now},
		held: map[string]heldLease{}, unclaimed: map[string]int{},
		leaseLosses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alerter_cluster_group_lease_losses_total",
			Help: "Rule group leases lost without being given up: not renewed in time (the database unreachable) or taken by another replica.",
		}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_cluster_heartbeats_total",
			Help: "Heartbeats to the shared database, by result (ok, failed).",
		}, []string{"result"}),
	}
	m.leasesHeld = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "alerter_cluster_group_leases_held",
		Help: "Rule groups whose lease this replica holds now (renewed in time): the groups it evaluates.",
	}, m.leasesValid)
	m.heartbeats.WithLabelValues("ok")
	m.heartbeats.WithLabelValues("failed")
	if reg != nil {
		reg.MustRegister(m.leasesHeld, m.leaseLosses, m.heartbeats)
	}
	return m
}

// run heartbeats and balances the rule groups until ctx ends, then leaves.
func (m *membership) run(ctx context.Context) {
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	failing := false
	for {
		err := m.tick(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			m.logger.Error("Heartbeat to the shared database failed: the rule groups of this replica stop being evaluated when their leases can have run out", "err", err)
		case err == nil && failing:
			failing = false
			m.logger.Info("Heartbeat to the shared database works again")
		}
		select {
		case <-ctx.Done():
			m.leave(ctx)
			return
		case <-t.C:
		}
	}
}

// tick heartbeats and balances the groups once.
func (m *membership) tick(ctx context.Context) error {
	start := time.Now()
	m.self.SeenAt = start
	if err := m.db.Heartbeat(ctx, m.self, start.Add(-peerForget)); err != nil {
		m.heartbeats.WithLabelValues("failed").Inc()
		return err
	}
	m.heartbeats.WithLabelValues("ok").Inc()
	m.joined.Store(true)
	live, err := m.db.Replicas(ctx, start.Add(-peerTimeout))
	if err != nil {
		return err
	}
	ids := []string{m.self.ID}
	for _, r := range live {
		if r.ID != m.self.ID {
			ids = append(ids, r.ID)
		}
	}
	m.live.Store(&liveView{ids: ids, until: start.Add(peerTimeout)})
	if m.groups == nil {
		return nil
	}
	return m.balance(ctx, start, ids)
}

// Prefers reports whether this replica is the preferred sender of the
// notifications of the aggregation group with key groupKey: the live
// replica that rendezvous hashing picks (as for rule groups), so that the
// groups spread over the replicas and only those of a replica that dies
// move. Without a recent view of the replicas (the database unreachable),
// every replica is, and the claims alone decide.
func (m *membership) Prefers(groupKey string) bool {
	v := m.live.Load()
	if v == nil || !time.Now().Before(v.until) {
		return true
	}
	return wanted(v.ids, groupKey) == m.self.ID
}

// leave gives up the group leases, so that others take them at once, and
// removes this replica from the list.
func (m *membership) leave(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	m.mu.Lock()
	keys := make([]string, 0, len(m.held))
	for k := range m.held {
		keys = append(keys, k)
	}
	m.held = map[string]heldLease{}
	m.mu.Unlock()
	if _, err := m.db.TakeGroupLeases(ctx, m.self.ID, nil, keys, groupLease); err != nil {
		m.logger.Warn("Giving up the rule group leases failed; the others take them when they run out", "err", err)
	}
	if err := m.db.Leave(ctx, m.self.ID); err != nil {
		m.logger.Warn("Leaving the shared database failed; the others drop this replica when its heartbeat times out", "err", err)
	}
}

// wanted returns the live replica that should evaluate key: the highest
// hash of replica and key (rendezvous hashing), so that a replica joining
// or leaving moves only its share of the groups.
func wanted(replicas []string, key string) string {
	// SHA-256, not FNV: FNV's hashes of IDs that differ in their last
	// bytes, followed by the same key, rank alike for most keys, which
	// put every group on one replica.
	var best string
	var bestHash uint64
	for _, r := range replicas {
		sum := sha256.Sum256([]byte(r + "\x00" + key))
		if v := binary.BigEndian.Uint64(sum[:8]); best == "" || v > bestHash {
			best, bestHash = r, v
		}
	}
	return best
}

// balance takes the leases of the groups this replica wants or that are
// orphaned, renews those it holds, and gives up those another live replica
// (of ids) wants. start is when the tick began: the leases taken run at
// least groupLease from then by any clock.
func (m *membership) balance(ctx context.Context, start time.Time, ids []string) error {
	keys := m.groups()
	leases, err := m.db.GroupLeases(ctx)
	if err != nil {
		return err
	}
	byKey := make(map[string]storage.Lease, len(leases))
	for _, l := range leases {
		byKey[l.Key] = l
	}
	var take, release []string
	configured := make(map[string]bool, len(keys))
	m.mu.Lock()
	for _, key := range keys {
		configured[key] = true
		l, has := byKey[key]
		if has {
			delete(m.unclaimed, key)
		} else {
			m.unclaimed[key]++
		}
		switch {
		case wanted(ids, key) == m.self.ID:
			take = append(take, key)
		case has && l.Owner == m.self.ID:
			release = append(release, key)
		case has && l.Remaining < -groupLease, !has && m.unclaimed[key] > 3:
			take = append(take, key) // orphaned
		}
	}
	for key := range m.unclaimed {
		if !configured[key] {
			delete(m.unclaimed, key)
		}
	}
	m.mu.Unlock()
	held, err := m.db.TakeGroupLeases(ctx, m.self.ID, take, release, groupLease)
	if err != nil {
		return err
	}
	until := start.Add(groupLease - groupLeaseMargin)
	m.mu.Lock()
	defer m.mu.Unlock()
	next := make(map[string]heldLease, len(held))
	for _, key := range held {
		prev, had := m.held[key]
		if had && start.Before(prev.until) {
			next[key] = heldLease{until: until, term: prev.term}
			continue
		}
		if had {
			m.leaseLosses.Inc() // it ran out before this renewal
		}
		m.term++
		next[key] = heldLease{until: until, term: m.term}
	}
	given := make(map[string]bool, len(release))
	for _, key := range release {
		given[key] = true
	}
	for key := range m.held {
		if _, ok := next[key]; !ok && !given[key] {
			m.leaseLosses.Inc()
		}
	}
	m.held = next
	return nil
}

// leasesValid counts the group leases this replica may evaluate under now.
func (m *membership) leasesValid() float64 {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, h := range m.held {
		if now.Before(h.until) {
			n++
		}
	}
	return float64(n)
}

// Owns implements evaluator.Ownership.
func (m *membership) Owns(key string) (bool, uint64) {
	m.mu.Lock()
	h, ok := m.held[key]
	m.mu.Unlock()
	if !ok || !time.Now().Before(h.until) {
		return false, 0
	}
	return true, h.term
}

// ready reports whether the replica has joined: its first heartbeat is in.
func (m *membership) ready() bool { return m.joined.Load() }

// cluster answers the web's question: this replica's name and the live
// replicas (itself included), as Alertmanager's cluster status lists them,
// with the rule groups each holds.
func (m *membership) cluster(ctx context.Context) (string, []alerterweb.Peer, error) {
	now := time.Now()
	rs, err := m.db.Replicas(ctx, now.Add(-peerTimeout))
	if err != nil {
		return m.self.ID, nil, err
	}
	leases, err := m.db.GroupLeases(ctx)
	if err != nil {
		return m.self.ID, nil, err
	}
	peers := make([]alerterweb.Peer, 0, len(rs))
	for _, r := range rs {
		p := alerterweb.Peer{Name: r.ID, Address: r.Address, StartedAt: r.StartedAt, SeenAt: r.SeenAt, Self: r.ID == m.self.ID}
		for _, l := range leases {
			if l.Owner == r.ID && l.Remaining > 0 {
				p.Groups = append(p.Groups, l.Key)
			}
		}
		peers = append(peers, p)
	}
	return m.self.ID, peers, nil
}
