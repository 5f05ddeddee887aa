package backtest

import (
	"cmp"
	"container/heap"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/silences"
)

// How often the running alerter collects garbage (cmd/alerter's routing):
// resolved alerts leave the store and the inhibition sources every minute,
// expired notification log entries go every 15 minutes.
const (
	storeGCInterval = time.Minute
	logGCInterval   = 15 * time.Minute
)

// simulator runs alerter's own routing (dispatch.Store and
// dispatch.Dispatcher) on a simulated clock: the aggregation groups'
// timers fire when the simulation reaches their time, and the receivers'
// integrations record the notifications instead of sending them. Only the
// goroutine that runs the backtest uses it.
type simulator struct {
	clock *simClock
	store *dispatch.Store
	disp  *dispatch.Dispatcher

	mu         sync.Mutex // the recorders may be called from the fan-out to several integrations
	byReceiver map[string]*ReceiverReport
	// muted is, per group key, 1 + the index of the group's suppression in
	// progress in its receiver's report.
	muted map[string]int
}

// newSimulator returns a simulator for opts' routing; without routing it
// only drops what it receives.
func newSimulator(opts Options) (*simulator, error) {
	s := &simulator{clock: newSimClock(opts.From), byReceiver: map[string]*ReceiverReport{}, muted: map[string]int{}}
	rt := opts.Routing
	if rt == nil || rt.Route == nil {
		return s, nil
	}
	log, err := dispatch.NewNotificationLog(context.Background(), nil, opts.LogRetention)
	if err != nil {
		return nil, err
	}
	s.store = dispatch.NewStore(cmp.Or(rt.ResolveTimeout, config.DefaultResolveTimeout), s.clock.Now)
	s.disp, err = dispatch.NewDispatcher(dispatch.Options{
		Route:         dispatch.NewRoute(rt.Route),
		Receivers:     s.recorders(rt),
		Inhibitor:     dispatch.NewInhibitor(rt.InhibitRules),
		Silencer:      silencesAt{list: opts.Silences, clock: s.clock},
		TimeIntervals: timeinterval.NewIntervener(rt.TimeIntervals),
		Log:           log,
		Clock:         s.clock,
		OnMuted:       s.suppress,
	})
	if err != nil {
		return nil, err
	}
	s.store.SetDispatcher(s.disp)
	every(s.clock, storeGCInterval, func() { s.store.GC() })
	every(s.clock, logGCInterval, func() { _, _ = log.GC(context.Background(), s.clock.Now()) }) // memory only: cannot fail
	return s, nil
}

// every runs f on c every d.
func every(c *simClock, d time.Duration, f func()) {
	var t dispatch.Timer
	t = c.AfterFunc(d, func() { f(); t.Reset(d) })
}

// recorders returns each receiver's integrations, in the order
// notifiers.Build makes them (webhook, email, slack), each recording what
// it is given to send.
func (s *simulator) recorders(rt *config.Routing) map[string][]dispatch.Integration {
	out := make(map[string][]dispatch.Integration, len(rt.Receivers))
	for _, r := range rt.Receivers {
		s.byReceiver[r.Name] = &ReceiverReport{Name: r.Name, Notifications: []Notification{}, Suppressed: []Suppression{}}
		ins := []dispatch.Integration{}
		add := func(kind string, index int, sendResolved bool) {
			ins = append(ins, dispatch.Integration{Kind: kind, Index: index, SendResolved: sendResolved,
				Notifier: recorder{s: s, integration: kind + "/" + strconv.Itoa(index)}})
		}
		for i, c := range r.Webhook {
			add("webhook", i, c.SendResolved)
		}
		for i, c := range r.EmailConfigs {
			add("email", i, c.SendResolved)
		}
		for i, c := range r.SlackConfigs {
			add("slack", i, c.SendResolved)
		}
		out[r.Name] = ins
	}
	return out
}

// receive takes the alerts the rules handed on at now.
func (s *simulator) receive(now time.Time, alerts []*dispatch.Alert) {
	if s.disp == nil || len(alerts) == 0 {
		return
	}
	s.clock.set(now)
	_ = s.store.Put(alerts) // no limits here
}

// advance runs the flushes and garbage collections due before until (or
// at until too, if inclusive), in time order; those due at the same time
// in the order they were scheduled.
func (s *simulator) advance(until time.Time, inclusive bool) {
	s.clock.run(until, inclusive)
}

// recorder is an integration that records the notifications it is given.
type recorder struct {
	s           *simulator
	integration string
}

// Notify implements dispatch.Notifier: it records the notification and
// succeeds.
func (r recorder) Notify(_ context.Context, b *dispatch.Batch) (bool, error) {
	n := Notification{
		Time: b.Now, Receiver: b.Receiver, Integration: r.integration, GroupKey: b.GroupKey,
		GroupLabels: b.GroupLabels, Reason: b.Reason.String(), Muted: b.Muted,
	}
	for _, a := range b.Alerts {
		status := "firing"
		if a.ResolvedAt(b.Now) {
			status = "resolved"
			n.Resolved++
		} else {
			n.Firing++
		}
		n.Alerts = append(n.Alerts, NotifiedAlert{Labels: a.Labels, Status: status, StartsAt: a.StartsAt})
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	rep := r.s.byReceiver[b.Receiver]
	rep.Notifications = append(rep.Notifications, n)
	delete(r.s.muted, b.GroupKey) // a suppression in progress ends
	return false, nil
}

// suppress reports a flush whose firing alerts were all muted, extending
// the group's suppression in progress when the group's previous flush was
// muted for the same reason. Flushes that mute only resolved alerts are not
// reported.
func (s *simulator) suppress(m dispatch.MutedFlush) {
	firing := 0
	for _, a := range m.Alerts {
		if !a.ResolvedAt(m.Now) {
			firing++
		}
	}
	if firing == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := s.byReceiver[m.Receiver]
	if i := s.muted[m.GroupKey]; i > 0 {
		if sp := &rep.Suppressed[i-1]; sp.Reason == m.Reason && sp.Until.Equal(m.PrevFlush) {
			sp.Until, sp.Flushes, sp.Alerts = m.Now, sp.Flushes+1, max(sp.Alerts, firing)
			return
		}
	}
	rep.Suppressed = append(rep.Suppressed, Suppression{
		From: m.Now, Until: m.Now, Flushes: 1, GroupKey: m.GroupKey, Reason: m.Reason, Alerts: firing,
	})
	s.muted[m.GroupKey] = len(rep.Suppressed)
}

// silencesAt is the dispatcher's Silencer over a list of silences, each
// active at the simulated time between its start and end.
type silencesAt struct {
	list  []silences.Silence
	clock *simClock
}

// Mutes implements dispatch.Silencer.
func (s silencesAt) Mutes(lset model.LabelSet) []string {
	now := s.clock.Now()
	var ids []string
	for i := range s.list {
		sil := &s.list[i]
		if !sil.StartsAt.After(now) && sil.EndsAt.After(now) && sil.Matchers.Matches(lset) {
			ids = append(ids, sil.ID)
		}
	}
	return ids
}

// simClock is a dispatch.Clock whose time moves only when the simulation
// moves it; timers run, in the simulation's goroutine, when it reaches them.
type simClock struct {
	mu  sync.Mutex
	now time.Time
	seq int
	q   timerQueue
}

func newSimClock(now time.Time) *simClock { return &simClock{now: now} }

// Now implements dispatch.Clock.
func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// AfterFunc implements dispatch.Clock.
func (c *simClock) AfterFunc(d time.Duration, f func()) dispatch.Timer {
	t := &simTimer{c: c, f: f}
	t.Reset(d)
	return t
}

// run fires, in time order (and in the order they were set at the same
// time), the timers due before until, or at until too if inclusive.
func (c *simClock) run(until time.Time, inclusive bool) {
	for {
		c.mu.Lock()
		if len(c.q) == 0 {
			c.mu.Unlock()
			return
		}
		e := c.q[0]
		if e.at.After(until) || (!inclusive && e.at.Equal(until)) {
			c.mu.Unlock()
			return
		}
		heap.Pop(&c.q)
		stale := e.t.gen != e.gen
		if !stale {
			e.t.active = false
			c.now = e.at
		}
		c.mu.Unlock()
		if !stale {
			e.t.f()
		}
	}
}

// simTimer is a timer of a simClock. A Reset or Stop makes its queued
// entry stale rather than removing it.
type simTimer struct {
	c      *simClock
	f      func()
	gen    int
	active bool
}

// Reset implements dispatch.Timer.
func (t *simTimer) Reset(d time.Duration) bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	was := t.active
	t.gen++
	t.active = true
	c.seq++
	at := c.now.Add(d)
	if at.Before(c.now) { // overflow: never
		at = time.Unix(1<<62, 0)
	}
	heap.Push(&c.q, timerEntry{at: at, seq: c.seq, t: t, gen: t.gen})
	return was
}

// Stop implements dispatch.Timer.
func (t *simTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	t.gen++
	return was
}

type timerEntry struct {
	at  time.Time
	seq int
	t   *simTimer
	gen int
}

// timerQueue orders timers by time, then by when they were set.
type timerQueue []timerEntry

func (q timerQueue) Len() int { return len(q) }
func (q timerQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q timerQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *timerQueue) Push(x any)   { *q = append(*q, x.(timerEntry)) }
func (q *timerQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// report adds the receivers' notifications and suppressions to rep.
func (s *simulator) report(rep *Report) {
	if s.disp != nil {
		s.disp.Stop()
	}
	rep.Receivers = make([]ReceiverReport, 0, len(s.byReceiver))
	for _, r := range s.byReceiver {
		// The integrations of one flush record in any order.
		slices.SortStableFunc(r.Notifications, func(a, b Notification) int {
			return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.GroupKey, b.GroupKey), cmp.Compare(a.Integration, b.Integration))
		})
		rep.Receivers = append(rep.Receivers, *r)
	}
	slices.SortFunc(rep.Receivers, func(a, b ReceiverReport) int { return cmp.Compare(a.Name, b.Name) })
}
