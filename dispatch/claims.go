package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Replicas sharing a notification log (a PostgreSQL database) each keep
// every aggregation group and flush it on their own timers. Before one
// sends a notification, it claims the log entry of the group, receiver and
// integration: the claim decides which replica sends, and hands it the
// entry as the database holds it, so that its dedup decision sees what the
// others sent. The others wait for the claim to end and then find the
// notification logged.
//
// So that the replicas do not all read and claim every notification, each
// group has a preferred replica (ClaimOptions.Prefers: one of the live
// replicas, by the group's key), which alone sends while it is alive. The
// others are its backups: a notification their view of the log (read
// from the database every half second) says is owed, they claim only
// once it has been owed for ClaimOptions.Backstop, and send it then if it
// is still due (a preferred replica that is alive but does not send: a
// configuration without the route, a receiver it cannot reach). When the
// preferred replica dies, the live replicas pick another preferred one
// for its groups.
//
// The one window for a duplicate: the sender dies after the receiver took
// the notification and before its log entry was written; another replica
// claims the entry when the lease has run out and sends again (once).

// Claim is the outcome of claiming a notification log entry.
type Claim struct {
	Won bool
	// Entry is the entry as the shared log holds it (nil: none), when won.
	Entry *LogEntry
	// Holder and Remaining say, when lost, who holds the claim and how
	// long its lease still runs by the database's clock.
	Holder    string
	Remaining time.Duration
}

// Claimer is a notification log that replicas share.
type Claimer interface {
	// ClaimNotification takes the entry of key for owner, unless another
	// owner's lease runs; a new entry expires at expiresAt.
	ClaimNotification(ctx context.Context, key, owner string, lease time.Duration, expiresAt time.Time) (Claim, error)
	// RenewNotification extends owner's lease on key to lease from now
	// (0: ends it), and reports false if owner does not hold it.
	RenewNotification(ctx context.Context, key, owner string, lease time.Duration) (bool, error)
	// PeekNotification returns the entry of key as shared (Entry; nil:
	// none), and who holds its claim for how much longer (Holder and
	// Remaining; Won is not set), claiming nothing: a flush that waits
	// for another replica's claim watches it by reading.
	PeekNotification(ctx context.Context, key string) (Claim, error)
	// LogChangedSince returns the entries written since cursor (a claim
	// alone is not an entry), and the cursor to ask from next time. It
	// may return an entry again.
	LogChangedSince(ctx context.Context, cursor int64) ([]LogEntry, int64, error)
}

// ClaimOptions set how long a claim lasts.
type ClaimOptions struct {
	// Lease is how long a claim lasts unless renewed; the bound on how
	// late a notification is when its sender dies. Default 10s.
	Lease time.Duration
	// Margin is how long before its lease can have run out a sender stops
	// sending. Default 2s.
	Margin time.Duration
	// Prefers reports whether this replica is the preferred sender of a
	// group (by its key); nil: every replica is.
	Prefers func(groupKey string) bool
	// Backstop is how long a notification is owed, in a backup's view,
	// before the backup claims it and sends it if it is still due.
	// Default three leases: a busy preferred replica is slow, not gone
	// (one that is gone is not preferred any more once the others see
	// its heartbeats stop), and backups that claim what it is about to
	// send make it slower.
	Backstop time.Duration
}

// sharing is what a NotificationLog shared between replicas needs.
type sharing struct {
	claimer Claimer
	replica string
	opts    ClaimOptions
	seq     atomic.Uint64
	metrics *ClaimMetrics
	logger  *slog.Logger
	failing atomic.Bool
}

// ClaimMetrics count the claims of notifications.
type ClaimMetrics struct {
	claims    *prometheus.CounterVec
	losses    prometheus.Counter
	backstops prometheus.Counter
	latency   *prometheus.HistogramVec
}

// NewClaimMetrics registers the claim metrics with reg (nil: unregistered).
func NewClaimMetrics(reg prometheus.Registerer) *ClaimMetrics {
	m := &ClaimMetrics{
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_notification_claims_total",
			Help: "Claims of a notification among replicas sharing a database, by result: won (this replica decides and sends), lost (another holds it; tried again until it ends), failed (the database did not answer: nothing sent).",
		}, []string{"result"}),
		losses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alerter_notification_claim_losses_total",
			Help: "Notifications stopped because their claim's lease could not be renewed (the database unreachable, or another replica took it over).",
		}),
		backstops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alerter_notification_backstops_total",
			Help: "Notifications this replica claimed though it is not their group's preferred sender, because its view of the shared log still owed them after the backstop delay. Rising while all replicas are up means a preferred replica does not send (a configuration that differs, a receiver it cannot reach).",
		}),
	}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "alerter_notification_claim_seconds",
		Help:    "Time the shared database took to answer, by operation: peek (read the entry), claim, renew.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"op"})
	for _, r := range []string{"won", "lost", "failed"} {
		m.claims.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.claims, m.losses, m.backstops, m.latency)
	}
	return m
}

// Share makes l a log shared with other replicas through c: each
// notification is claimed before it is decided and sent. replica names
// this process among them.
func (l *NotificationLog) Share(c Claimer, replica string, opts ClaimOptions, m *ClaimMetrics, logger *slog.Logger) {
	if opts.Lease <= 0 {
		opts.Lease = 10 * time.Second
	}
	if opts.Margin <= 0 || opts.Margin >= opts.Lease {
		opts.Margin = min(2*time.Second, opts.Lease/4)
	}
	if opts.Backstop <= 0 {
		opts.Backstop = 3 * opts.Lease
	}
	if m == nil {
		m = NewClaimMetrics(nil)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l.shared = &sharing{claimer: c, replica: replica, opts: opts, metrics: m, logger: logger}
}

// settle is how long a group keeps an alert after it resolved, though
// its flush found nothing to send: when replicas share the log, another
// one may not have seen the end yet and notify the alert as firing (or
// be sending it now); the resolve is owed then, and this replica, which
// has it, sends it at a later flush. Twice the lease: the other's view
// lags by seconds, and a claim it holds lasts a lease. 0 for a log of
// one process.
func (l *NotificationLog) settle() time.Duration {
	if l.shared == nil {
		return 0
	}
	return 2 * l.shared.opts.Lease
}

// heldClaim is a claim this replica won, for one notification.
type heldClaim struct {
	sh    *sharing
	key   string
	owner string
	// ctx ends when the lease can have run out (less the margin); the
	// renewer extends it while the notification is being sent.
	ctx      context.Context
	cancel   context.CancelCauseFunc
	stop     chan struct{}
	done     sync.WaitGroup
	stopOnce sync.Once
	lost     bool
	// release frees the send's deadline timer (end calls it).
	release context.CancelFunc
}

// errLeaseLost ends a notification whose claim could not be renewed.
var errLeaseLost = errors.New("the claim's lease could not be renewed: stopped before another replica can take over")

// claim waits until this replica holds the log entry of key, or ctx ends;
// the claim's context (the send's) is derived from sendCtx and lasts at
// most sendTime from when the claim is won.
// It returns the claim and the entry as shared; or no claim and true when,
// while another replica held the claim, the entry came to need nothing
// (done); or false when it could not claim (the database unreachable,
// ctx ended while another replica held the entry, or another replica held
// it and !watch).
func (l *NotificationLog) claim(ctx context.Context, key string, expiry time.Duration, now time.Time, done func(*LogEntry) bool, watch bool, sendCtx context.Context, sendTime time.Duration) (*heldClaim, *LogEntry, bool) {
	sh := l.shared
	owner := sh.replica + "/" + strconv.FormatUint(sh.seq.Add(1), 10)
	wait := 50 * time.Millisecond
	for {
		start := time.Now()
		c, err := sh.claimer.ClaimNotification(ctx, key, owner, sh.opts.Lease, now.Add(l.expiry(expiry)))
		sh.metrics.latency.WithLabelValues("claim").Observe(time.Since(start).Seconds())
		if err != nil {
			sh.metrics.claims.WithLabelValues("failed").Inc()
			if ctx.Err() == nil && !sh.failing.Swap(true) {
				sh.logger.Error("Claiming a notification in the shared database failed: nothing is sent until it answers", "key", key, "err", err)
			}
			return nil, nil, false
		}
		if sh.failing.Swap(false) {
			sh.logger.Info("Claiming notifications in the shared database works again")
		}
		if c.Won {
			sh.metrics.claims.WithLabelValues("won").Inc()
			l.mu.Lock()
			if c.Entry != nil {
				l.entries[key] = c.Entry
			} else {
				delete(l.entries, key)
			}
			l.mu.Unlock()
			sctx, cancel := context.WithTimeout(sendCtx, sendTime)
			hc := sh.hold(sctx, key, owner, start)
			hc.release = cancel
			return hc, c.Entry, true
		}
		sh.metrics.claims.WithLabelValues("lost").Inc()
		if !watch {
			return nil, nil, false
		}
		// Watch the holder's claim by reading the entry (no write): it
		// usually confirms within milliseconds, and then there is
		// nothing to send; one that died lets its lease run out, and the
		// entry is claimed again.
		for c.Remaining > 0 {
			pause := min(wait, c.Remaining+10*time.Millisecond)
			wait = min(2*wait, time.Second)
			// A claim won with the flush's deadline nearly passed would
			// send and give up before the receiver answers (and the
			// receiver may get it twice): leave the notification to the
			// next flush, which comes at once after a long one.
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < pause+sh.opts.Lease/2 {
				return nil, nil, false
			}
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, nil, false
			case <-t.C:
			}
			var ok bool
			if c, ok = l.peek(ctx, key); !ok {
				return nil, nil, false
			}
			if done(c.Entry) {
				return nil, c.Entry, true
			}
		}
	}
}

// prefers reports whether this replica is the preferred sender of the
// group with key groupKey (always, for a log of one process).
func (l *NotificationLog) prefers(groupKey string) bool {
	return l.shared == nil || l.shared.opts.Prefers == nil || l.shared.opts.Prefers(groupKey)
}

// peek returns the entry of key as shared, claiming nothing; false when
// the database did not answer (nothing is decided then).
func (l *NotificationLog) peek(ctx context.Context, key string) (Claim, bool) {
	sh := l.shared
	start := time.Now()
	c, err := sh.claimer.PeekNotification(ctx, key)
	sh.metrics.latency.WithLabelValues("peek").Observe(time.Since(start).Seconds())
	if err != nil {
		sh.metrics.claims.WithLabelValues("failed").Inc()
		if ctx.Err() == nil && !sh.failing.Swap(true) {
			sh.logger.Error("Reading a notification log entry from the shared database failed: nothing is sent until it answers", "key", key, "err", err)
		}
		return Claim{}, false
	}
	return c, true
}

// hold starts renewing a claim won at start (by the local clock, before
// the claim was sent: the database's lease ends later than start+Lease).
func (sh *sharing) hold(ctx context.Context, key, owner string, start time.Time) *heldClaim {
	hc := &heldClaim{sh: sh, key: key, owner: owner, stop: make(chan struct{})}
	hc.ctx, hc.cancel = context.WithCancelCause(ctx)
	fence := time.AfterFunc(time.Until(start.Add(sh.opts.Lease-sh.opts.Margin)), func() { hc.cancel(errLeaseLost) })
	hc.done.Add(1)
	go func() {
		defer hc.done.Done()
		defer fence.Stop()
		t := time.NewTicker(sh.opts.Lease / 4)
		defer t.Stop()
		for {
			select {
			case <-hc.stop:
				return
			case <-hc.ctx.Done():
				return
			case <-t.C:
			}
			at := time.Now()
			rctx, cancel := context.WithTimeout(hc.ctx, sh.opts.Lease/4)
			ok, err := sh.claimer.RenewNotification(rctx, key, owner, sh.opts.Lease)
			cancel()
			sh.metrics.latency.WithLabelValues("renew").Observe(time.Since(at).Seconds())
			switch {
			case err == nil && ok:
				fence.Reset(time.Until(at.Add(sh.opts.Lease - sh.opts.Margin)))
			case err == nil:
				hc.cancel(errLeaseLost) // taken over: stop at once
			}
			// An error leaves the fence where it is: the send stops when
			// the last lease can have run out.
		}
	}()
	return hc
}

// end stops renewing the claim and, unless confirmed (the log entry's
// write ended it), ends it so that the next claimant need not wait for the
// lease. It reports whether the lease was lost during the send.
func (hc *heldClaim) end(confirmed bool) bool {
	lost := hc.stopRenewing()
	hc.cancel(nil)
	if hc.release != nil {
		hc.release()
	}
	if !confirmed {
		ctx, cancel := context.WithTimeout(context.Background(), logTimeout)
		defer cancel()
		if _, err := hc.sh.claimer.RenewNotification(ctx, hc.key, hc.owner, 0); err != nil {
			hc.sh.logger.Debug("Ending a claim failed; its lease runs out", "key", hc.key, "err", err)
		}
	}
	return lost
}

// stopRenewing stops the renewer, before the confirmation that ends the
// claim is written (a renewal after it would find the claim gone, and take
// it for lost), and reports whether the lease was lost meanwhile.
func (hc *heldClaim) stopRenewing() bool {
	hc.stopOnce.Do(func() {
		close(hc.stop)
		hc.done.Wait()
		hc.lost = errors.Is(context.Cause(hc.ctx), errLeaseLost)
		if hc.lost {
			hc.sh.metrics.losses.Inc()
		}
	})
	return hc.lost
}
