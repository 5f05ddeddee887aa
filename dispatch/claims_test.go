package dispatch

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

// memClaimer is a Claimer over a memPersister, as storage's is over the
// database: a claim is taken if free or run out, and a confirmed write
// (LogEntry.Release) ends it.
type memClaimer struct {
	p      *memPersister
	mu     sync.Mutex
	claims map[string]memClaim
	// down fails every call, as an unreachable database does; cutOff
	// fails the renewals of one replica's claims (owner prefix).
	down   bool
	cutOff string
	// claimsBy counts the claims made, by replica (owner up to "/").
	claimsBy map[string]int
}

type memClaim struct {
	owner string
	until time.Time
}

func newMemClaimer(p *memPersister) *memClaimer {
	c := &memClaimer{p: p, claims: map[string]memClaim{}, claimsBy: map[string]int{}}
	p.hook = nil
	return c
}

var errDown = context.DeadlineExceeded

func (c *memClaimer) ClaimNotification(_ context.Context, key, owner string, lease time.Duration, _ time.Time) (Claim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return Claim{}, errDown
	}
	replica, _, _ := strings.Cut(owner, "/")
	c.claimsBy[replica]++
	now := time.Now()
	if cl, ok := c.claims[key]; ok && cl.owner != owner && cl.until.After(now) {
		return Claim{Holder: cl.owner, Remaining: cl.until.Sub(now)}, nil
	}
	c.claims[key] = memClaim{owner, now.Add(lease)}
	e, ok := c.p.get(key)
	if !ok {
		return Claim{Won: true}, nil
	}
	return Claim{Won: true, Entry: &e}, nil
}

func (c *memClaimer) RenewNotification(_ context.Context, key, owner string, lease time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down || (c.cutOff != "" && strings.HasPrefix(owner, c.cutOff)) {
		return false, errDown
	}
	if cl, ok := c.claims[key]; !ok || cl.owner != owner {
		return false, nil
	}
	c.claims[key] = memClaim{owner, time.Now().Add(lease)}
	return true, nil
}

func (c *memClaimer) PeekNotification(_ context.Context, key string) (Claim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return Claim{}, errDown
	}
	var out Claim
	if cl, ok := c.claims[key]; ok {
		out.Holder, out.Remaining = cl.owner, time.Until(cl.until)
	}
	if e, ok := c.p.get(key); ok {
		out.Entry = &e
	}
	return out, nil
}

// LogChangedSince returns every entry: the cursor counts the reads, and
// the log's merge skips what it holds.
func (c *memClaimer) LogChangedSince(ctx context.Context, cursor int64) ([]LogEntry, int64, error) {
	c.mu.Lock()
	down := c.down
	c.mu.Unlock()
	if down {
		return nil, cursor, errDown
	}
	es, err := c.p.LoadNotificationLog(ctx)
	return es, cursor + 1, err
}

// claimsOf returns how many claims replica made.
func (c *memClaimer) claimsOf(replica string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claimsBy[replica]
}

// release ends the claims that written entries name, as storage's write does.
func (c *memClaimer) release(entries []LogEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range entries {
		if cl, ok := c.claims[e.Key]; ok && e.Release != "" && cl.owner == e.Release {
			delete(c.claims, e.Key)
		}
	}
}

// sharedPersister is a memPersister whose writes end claims.
type sharedPersister struct {
	*memPersister
	c *memClaimer
}

func (p sharedPersister) SaveNotificationLog(ctx context.Context, entries []LogEntry, expiredBy time.Time) error {
	if err := p.memPersister.SaveNotificationLog(ctx, entries, expiredBy); err != nil {
		return err
	}
	p.c.release(entries)
	return nil
}

// replicaRoute groups by alertname, waits a second and repeats hourly.
func replicaRoute(groupInterval time.Duration) *config.Route {
	return &config.Route{Receiver: "r", GroupBy: []model.LabelName{"alertname"},
		GroupWait: dur(time.Second), GroupInterval: dur(groupInterval), RepeatInterval: dur(time.Hour)}
}

// replicaEnv is one replica: its own store, dispatcher and log, sharing the
// persister and the claims with the others; every replica is a preferred
// sender.
func replicaEnv(t *testing.T, route *config.Route, name string, p *memPersister, c *memClaimer, rec *recorder, fn func(context.Context, *Batch) (bool, error)) *env {
	t.Helper()
	return replicaEnvWith(t, route, name, p, c, rec, fn, nil)
}

// replicaEnvWith is replicaEnv with the preferred senders that prefers
// says (nil: all). The replica reads the shared log every half second.
func replicaEnvWith(t *testing.T, route *config.Route, name string, p *memPersister, c *memClaimer, rec *recorder,
	fn func(context.Context, *Batch) (bool, error), prefers func(string) bool) *env {
	t.Helper()
	l, err := NewNotificationLog(context.Background(), sharedPersister{p, c}, time.Hour)
	require.NoError(t, err)
	l.Share(c, name, ClaimOptions{Lease: 10 * time.Second, Margin: 2 * time.Second, Prefers: prefers}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.RunSync(ctx, 500*time.Millisecond, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { cancel(); <-done })
	return newEnv(t, route, withLog(l), withIntegrations("r", Integration{Kind: "webhook", SendResolved: true,
		Notifier: &fakeNotifier{name: name, rec: rec, fn: fn}}))
}

// cluster is replicas of the given names sharing one log and one
// recorder; preferred says which of them prefers each group (nil: all).
type cluster struct {
	c    *memClaimer
	rec  recorder
	envs []*env
}

func newCluster(t *testing.T, route *config.Route, preferred func(replica string) bool, names ...string) *cluster {
	t.Helper()
	p := newMemPersister()
	cl := &cluster{c: newMemClaimer(p)}
	for _, name := range names {
		var prefers func(string) bool
		if preferred != nil {
			prefers = func(string) bool { return preferred(name) }
		}
		cl.envs = append(cl.envs, replicaEnvWith(t, route, name, p, cl.c, &cl.rec, nil, prefers))
	}
	return cl
}

// TestOnlyThePreferredReplicaClaims: three replicas hold the same alerts;
// a is the preferred sender of the group. a alone claims and sends each
// notification; the others, which read what a logged, claim nothing, also
// after the backstop delay.
func TestOnlyThePreferredReplicaClaims(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, replicaRoute(5*time.Second), func(r string) bool { return r == "a" }, "a", "b", "c")
		c, envs, rec := cl.c, cl.envs, &cl.rec
		start := time.Now()
		for _, e := range envs {
			e.put(firing(start, "alertname", "A", "instance", "1"))
		}
		advance(7 * time.Second)
		for _, e := range envs {
			e.put(firing(start, "alertname", "A", "instance", "2"))
		}
		advance(30 * time.Second)
		bs := rec.all()
		require.Len(t, bs, 2, "the first notification and the update: %+v", bs)
		for _, b := range bs {
			require.Equal(t, "a", b.Integration)
		}
		require.Equal(t, 2, c.claimsOf("a"))
		require.Zero(t, c.claimsOf("b")+c.claimsOf("c"), "the backups claim nothing: they read that a sent")
	})
}

// TestBackupSendsWhatThePreferredDoesNot: the preferred replica of the
// group is alive (for the others) but does not send it (it has no such
// route); one backup sends each notification once it has been owed for the
// backstop delay (three leases, 30s), at its next flush.
func TestBackupSendsWhatThePreferredDoesNot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, replicaRoute(5*time.Second), func(string) bool { return false }, "b", "c")
		envs, rec := cl.envs, &cl.rec
		start := time.Now()
		for _, e := range envs {
			e.put(firing(start, "alertname", "A"))
		}
		advance(30 * time.Second)
		require.Empty(t, rec.all(), "not before the backstop delay")
		advance(20 * time.Second)
		bs := rec.all()
		require.Len(t, bs, 1, "one backup sends it: %+v", bs)
		require.LessOrEqual(t, bs[0].At.Sub(start), 36*time.Second+time.Millisecond,
			"at the first flush (group_interval 5s) after the backstop delay (30s) from the first flush (1s)")
	})
}

// TestReplicasSendEachNotificationOnce: three replicas hold the same
// alerts and flush the same group; each notification (the firing one, the
// resolve) is sent by one of them.
func TestReplicasSendEachNotificationOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, replicaRoute(10*time.Second), nil, "a", "b", "c")
		envs, rec := cl.envs, &cl.rec
		start := time.Now()
		for _, e := range envs {
			e.put(firing(start, "alertname", "A", "instance", "1"), firing(start, "alertname", "A", "instance", "2"))
		}
		advance(5 * time.Second)
		require.Len(t, rec.all(), 1, "one replica sends the firing notification")
		end := time.Now()
		for _, e := range envs {
			e.put(resolved(start, end, "alertname", "A", "instance", "1"), resolved(start, end, "alertname", "A", "instance", "2"))
		}
		advance(30 * time.Second)
		bs := rec.all()
		require.Len(t, bs, 2, "and one the resolve: %+v", bs)
		require.Equal(t, ReasonAllResolved, bs[1].Reason)
	})
}

// TestReplicaDyingMidSendIsReplaced: the replica that claimed a
// notification is cut off during the send (its renewals fail, as for a
// process frozen or cut off from the database); it stops sending before
// its lease can have run out, and another replica sends once the lease has
// run out: within the lease and a poll of the group's due time.
func TestReplicaDyingMidSendIsReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		route := replicaRoute(time.Minute)
		p := newMemPersister()
		c := newMemClaimer(p)
		c.cutOff = "dead/"
		var rec recorder
		var stopped time.Time
		dead := replicaEnv(t, route, "dead", p, c, &rec, func(ctx context.Context, _ *Batch) (bool, error) {
			<-ctx.Done() // the receiver hangs
			stopped = time.Now()
			return false, ctx.Err()
		})
		start := time.Now()
		dead.put(firing(start, "alertname", "A"))
		advance(1500 * time.Millisecond) // dead claims and starts sending
		var rec2 recorder
		alive := replicaEnv(t, route, "alive", p, c, &rec2, nil)
		alive.put(firing(start, "alertname", "A"))
		advance(15 * time.Second)
		got := rec2.all()
		require.Len(t, got, 1, "the live replica sends the notification the other claimed")
		require.LessOrEqual(t, got[0].At.Sub(start), 13*time.Second, "within the lease (10s) of the group's due time (1s), and a poll")
		require.Len(t, rec.all(), 1)
		require.False(t, stopped.IsZero(), "the cut-off sender stopped")
		require.True(t, stopped.Before(got[0].At), "before the other took over: stopped %v, sent %v", stopped.Sub(start), got[0].At.Sub(start))
		require.LessOrEqual(t, stopped.Sub(start), 9*time.Second+time.Millisecond, "at its lease's end less the margin")
	})
}

// TestReplicaCutOffSendsNothing: a replica whose database does not answer
// claims nothing and sends nothing; it sends once the database is back.
func TestReplicaCutOffSendsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		route := replicaRoute(5 * time.Second)
		p := newMemPersister()
		c := newMemClaimer(p)
		c.down = true
		var rec recorder
		e := replicaEnv(t, route, "a", p, c, &rec, nil)
		e.put(firing(time.Now(), "alertname", "A"))
		advance(20 * time.Second)
		require.Empty(t, rec.all(), "nothing is sent without a claim")
		c.mu.Lock()
		c.down = false
		c.mu.Unlock()
		advance(6 * time.Second)
		require.Len(t, rec.all(), 1, "sent at the next flush once the database answers")
	})
}

// TestReplicaWithStaleViewDoesNotRefire: replica c never received an
// alert's end, which a and b received and notified; c's flush must not
// notify the alert as firing again. When the alert fires again (a later
// update), c notifies it.
func TestReplicaWithStaleViewDoesNotRefire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		route := replicaRoute(5 * time.Second)
		p := newMemPersister()
		c := newMemClaimer(p)
		var rec recorder
		a := replicaEnv(t, route, "a", p, c, &rec, nil)
		start := time.Now()
		a.put(firing(start, "alertname", "A"))
		advance(2 * time.Second)
		a.put(resolved(start, time.Now(), "alertname", "A"))
		advance(6 * time.Second)
		require.Len(t, rec.all(), 2, "a notifies the firing and the resolve")

		stale := replicaEnv(t, route, "c", p, c, &rec, nil)
		// Its copy is the one received before the end (read from the
		// database as the others wrote it, with their update time).
		old := firing(start, "alertname", "A")
		old.UpdatedAt = start
		stale.store.Merge([]*Alert{old})
		advance(12 * time.Second)
		require.Len(t, rec.all(), 2, "c's older view notifies nothing: %+v", rec.all())

		stale.put(firing(time.Now(), "alertname", "A")) // fires again
		advance(7 * time.Second)
		bs := rec.all()
		require.Len(t, bs, 3)
		require.Equal(t, ReasonFirst, bs[2].Reason)
	})
}
