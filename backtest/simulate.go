package backtest

import (
	"container/heap"
	"context"
	"slices"
	"sort"
	"strconv"
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

// integration is what the simulation needs of a receiver's integration.
type integration struct {
	kind         string
	index        int
	sendResolved bool
}

// simulator is the Dispatcher on simulated time: the same alert store,
// routing tree, inhibitor, time intervals and notification log decision,
// with the aggregation groups' timers replaced by a queue of flush times.
// It runs in one goroutine.
type simulator struct {
	now       time.Time
	route     *dispatch.Route
	receivers map[string][]integration
	store     *dispatch.Store
	inhibitor *dispatch.Inhibitor
	intervals *timeinterval.Intervener
	silences  []silences.Silence
	log       *dispatch.NotificationLog

	groups map[groupID]*simGroup
	events eventQueue
	seq    int

	byReceiver map[string]*ReceiverReport
}

type groupID struct {
	route *dispatch.Route
	fp    model.Fingerprint
}

// simGroup is an aggregation group: its alerts, and its suppression in
// progress, if any, which consecutive muted flushes extend.
type simGroup struct {
	id     groupID
	key    string
	labels model.LabelSet
	alerts map[model.Fingerprint]*dispatch.Alert
	// muted is 1 + the index of the suppression in progress in the
	// receiver's report, 0 if none.
	muted int
}

// newSimulator returns a simulator for opts' routing; without routing it
// only drops what it receives.
func newSimulator(opts Options) (*simulator, error) {
	s := &simulator{now: opts.From, groups: map[groupID]*simGroup{}, byReceiver: map[string]*ReceiverReport{}}
	rt := opts.Routing
	if rt == nil || rt.Route == nil {
		return s, nil
	}
	s.route = dispatch.NewRoute(rt.Route)
	s.receivers = integrations(rt)
	s.inhibitor = dispatch.NewInhibitor(rt.InhibitRules)
	s.intervals = timeinterval.NewIntervener(rt.TimeIntervals)
	s.silences = opts.Silences
	s.store = dispatch.NewStore(cmpOrTimeout(rt.ResolveTimeout), func() time.Time { return s.now })
	log, err := dispatch.NewNotificationLog(context.Background(), nil, opts.LogRetention)
	if err != nil {
		return nil, err
	}
	s.log = log
	for name := range s.receivers {
		s.byReceiver[name] = &ReceiverReport{Name: name, Notifications: []Notification{}, Suppressed: []Suppression{}}
	}
	s.push(opts.From.Add(storeGCInterval), nil, evStoreGC)
	s.push(opts.From.Add(logGCInterval), nil, evLogGC)
	return s, nil
}

func cmpOrTimeout(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return config.DefaultResolveTimeout
}

// integrations lists each receiver's integrations in the order
// notifiers.Build makes them (webhook, email, slack), without building
// anything that could send.
func integrations(rt *config.Routing) map[string][]integration {
	out := make(map[string][]integration, len(rt.Receivers))
	for _, r := range rt.Receivers {
		ins := []integration{}
		for i, c := range r.Webhook {
			ins = append(ins, integration{"webhook", i, c.SendResolved})
		}
		for i, c := range r.EmailConfigs {
			ins = append(ins, integration{"email", i, c.SendResolved})
		}
		for i, c := range r.SlackConfigs {
			ins = append(ins, integration{"slack", i, c.SendResolved})
		}
		out[r.Name] = ins
	}
	return out
}

// receive takes alerts handed on at now, as Store.Put and the
// Dispatcher's ingest do: merged into the store, observed as inhibition
// sources, then inserted into the aggregation groups of the routes they
// match. A new group's first flush is group_wait away, or due at once for
// an alert that started longer ago than that.
func (s *simulator) receive(now time.Time, alerts []*dispatch.Alert) {
	if s.route == nil || len(alerts) == 0 {
		return
	}
	s.now = now
	_ = s.store.Put(alerts) // no limits here; replaces each alert by its merged version
	for _, a := range alerts {
		s.inhibitor.Observe(a)
	}
	for _, a := range alerts {
		for _, r := range s.route.Match(a.Labels) {
			s.insert(r, a)
		}
	}
}

func (s *simulator) insert(r *dispatch.Route, a *dispatch.Alert) {
	lbls := r.GroupLabels(a.Labels)
	id := groupID{route: r, fp: lbls.Fingerprint()}
	g := s.groups[id]
	if g == nil {
		g = &simGroup{id: id, key: dispatch.GroupKey(r, lbls), labels: lbls, alerts: map[model.Fingerprint]*dispatch.Alert{}}
		s.groups[id] = g
		wait := r.Opts.GroupWait
		if a.StartsAt.Add(wait).Before(s.now) {
			wait = 0
		}
		s.push(s.now.Add(wait), g, evFlush)
	}
	if old, ok := g.alerts[a.Fingerprint()]; !ok || !old.UpdatedAt.After(a.UpdatedAt) {
		g.alerts[a.Fingerprint()] = a
	}
}

// advance runs the flushes and garbage collections due before until (or
// at until too, if inclusive), in time order; those due at the same time
// in the order they were scheduled.
func (s *simulator) advance(until time.Time, inclusive bool) {
	for len(s.events) > 0 {
		ev := s.events[0]
		if ev.at.After(until) || (!inclusive && ev.at.Equal(until)) {
			return
		}
		heap.Pop(&s.events)
		s.now = ev.at
		switch ev.kind {
		case evFlush:
			s.flush(ev.g)
		case evStoreGC:
			s.gcStore()
			s.push(s.now.Add(storeGCInterval), nil, evStoreGC)
		case evLogGC:
			_, _ = s.log.GC(context.Background(), s.now) // memory only: cannot fail
			s.push(s.now.Add(logGCInterval), nil, evLogGC)
		}
	}
}

// gcStore drops resolved alerts from the store and from the inhibition
// sources, as the running alerter does every minute.
func (s *simulator) gcStore() {
	s.store.List(func(a *dispatch.Alert) bool {
		if a.ResolvedAt(s.now) {
			s.inhibitor.Forget(a)
		}
		return true
	})
	s.store.GC()
}

// flush is one firing of a group's timer: the next one is due
// group_interval later; the group's alerts go through the notification
// pipeline; resolved ones are dropped afterwards (every integration always
// "succeeds" here), and the group with them once it is empty.
func (s *simulator) flush(g *simGroup) {
	r := g.id.route
	if len(g.alerts) > 0 {
		alerts := make([]*dispatch.Alert, 0, len(g.alerts))
		for _, a := range g.alerts {
			alerts = append(alerts, a)
		}
		sort.Slice(alerts, func(i, j int) bool { return alerts[i].Labels.Before(alerts[j].Labels) })
		s.notify(g, alerts)
		for _, a := range alerts {
			if a.ResolvedAt(s.now) && g.alerts[a.Fingerprint()] == a {
				delete(g.alerts, a.Fingerprint())
			}
		}
	}
	if len(g.alerts) == 0 {
		delete(s.groups, g.id)
		return
	}
	s.push(s.now.Add(r.Opts.GroupInterval), g, evFlush)
}

// notify is Dispatcher.notify without delivery: time intervals, then
// inhibition and silences per alert, then per integration the notification
// log's decision; a notification that would be sent is reported, and
// logged as if it had been.
func (s *simulator) notify(g *simGroup, alerts []*dispatch.Alert) {
	r := g.id.route
	if dispatch.TimeMuted(s.intervals, r, s.now) {
		s.suppress(g, alerts, "time interval")
		return
	}
	var (
		kept                []*dispatch.Alert
		firing, resolved    []uint64
		silenced, inhibited int
	)
	for _, a := range alerts {
		if _, ok := s.inhibitor.Inhibited(a.Labels, s.now); ok {
			inhibited++
			continue
		}
		if s.silenced(a.Labels) {
			silenced++
			continue
		}
		kept = append(kept, a)
		if a.ResolvedAt(s.now) {
			resolved = append(resolved, uint64(a.Fingerprint()))
		} else {
			firing = append(firing, uint64(a.Fingerprint()))
		}
	}
	if len(kept) == 0 {
		s.suppress(g, alerts, mutedReason(silenced, inhibited))
		return
	}
	g.muted = 0
	slices.Sort(firing)
	slices.Sort(resolved)
	receiver := r.Opts.Receiver
	for _, in := range s.receivers[receiver] {
		key := g.key + " " + receiver + "/" + in.kind + "/" + strconv.Itoa(in.index)
		reason := dispatch.NeedsUpdate(s.log.Get(key), firing, resolved, in.sendResolved, r.Opts.RepeatInterval, s.now)
		if reason == dispatch.NoNotification {
			continue
		}
		if n := s.notification(g, in, kept, reason); len(n.Alerts) > 0 {
			n.Muted = silenced + inhibited
			rep := s.byReceiver[receiver]
			rep.Notifications = append(rep.Notifications, n)
		}
		_ = s.log.Log(context.Background(), key, firing, resolved, s.now, 2*r.Opts.RepeatInterval) // memory only: cannot fail
	}
}

// notification describes what integration in would be sent: the kept
// alerts, without the resolved ones unless it sends resolved.
func (s *simulator) notification(g *simGroup, in integration, kept []*dispatch.Alert, reason dispatch.NotifyReason) Notification {
	n := Notification{
		Time: s.now, Receiver: g.id.route.Opts.Receiver, Integration: in.kind + "/" + strconv.Itoa(in.index),
		GroupKey: g.key, GroupLabels: g.labels, Reason: reason.String(),
	}
	for _, a := range kept {
		status := "firing"
		if a.ResolvedAt(s.now) {
			if !in.sendResolved {
				continue
			}
			status = "resolved"
			n.Resolved++
		} else {
			n.Firing++
		}
		n.Alerts = append(n.Alerts, NotifiedAlert{Labels: a.Labels, Status: status, StartsAt: a.StartsAt})
	}
	return n
}

// silenced reports whether a silence covering now mutes lset (a missing
// label matching as the empty value, as in Alertmanager).
func (s *simulator) silenced(lset model.LabelSet) bool {
	for i := range s.silences {
		sil := &s.silences[i]
		if !sil.StartsAt.After(s.now) && sil.EndsAt.After(s.now) && sil.Matchers.Matches(lset) {
			return true
		}
	}
	return false
}

func mutedReason(silenced, inhibited int) string {
	switch {
	case silenced > 0 && inhibited > 0:
		return "silenced and inhibited"
	case silenced > 0:
		return "silenced"
	default:
		return "inhibited"
	}
}

// suppress reports a flush whose firing alerts were all muted, extending
// the group's suppression in progress if it has the same reason. Flushes
// that mute only resolved alerts are not reported.
func (s *simulator) suppress(g *simGroup, alerts []*dispatch.Alert, reason string) {
	firing := 0
	for _, a := range alerts {
		if !a.ResolvedAt(s.now) {
			firing++
		}
	}
	if firing == 0 {
		return
	}
	rep := s.byReceiver[g.id.route.Opts.Receiver]
	if g.muted > 0 && rep.Suppressed[g.muted-1].Reason == reason {
		sp := &rep.Suppressed[g.muted-1]
		sp.Until, sp.Flushes, sp.Alerts = s.now, sp.Flushes+1, max(sp.Alerts, firing)
		return
	}
	rep.Suppressed = append(rep.Suppressed, Suppression{
		From: s.now, Until: s.now, Flushes: 1, GroupKey: g.key, Reason: reason, Alerts: firing,
	})
	g.muted = len(rep.Suppressed)
}

// The kinds of simulated events.
const (
	evFlush = iota
	evStoreGC
	evLogGC
)

type event struct {
	at   time.Time
	seq  int
	kind int
	g    *simGroup
}

func (s *simulator) push(at time.Time, g *simGroup, kind int) {
	s.seq++
	heap.Push(&s.events, event{at: at, seq: s.seq, kind: kind, g: g})
}

// eventQueue orders events by time, then by when they were scheduled.
type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
