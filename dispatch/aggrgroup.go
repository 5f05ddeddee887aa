package dispatch

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

// groupID identifies an aggregation group in the dispatcher's map: its
// route and the fingerprint of its group labels.
type groupID struct {
	route *Route
	fp    model.Fingerprint
}

// aggrGroup holds the alerts of one route with the same group labels. It
// owns one timer: the first flush comes group_wait after the group was
// created (or at once for an alert that started longer ago), then one every
// group_interval. The timer's function flushes in a goroutine that lives
// only as long as the flush: thousands of idle groups cost no goroutine
// stacks. At most one flush of a group runs at a time; a timer that fires
// during one makes it flush again at once, as a goroutine-per-group loop
// would.
type aggrGroup struct {
	id     groupID
	key    string
	labels model.LabelSet
	route  *Route
	d      *Dispatcher
	timer  Timer

	mu       sync.Mutex
	alerts   map[model.Fingerprint]*Alert
	flushed  bool // the first flush has started
	flushing bool // a flush is running
	again    bool // the timer fired while it ran
	removed  bool // out of the dispatcher's map: no flush any more
	// prevFlush is when the previous flush ran; only the flush uses it.
	prevFlush time.Time
	// owed holds, by notification log key, since when a notification has
	// been owed in this replica's view while another replica is the
	// group's preferred sender (see NotificationLog.prefers).
	owed map[string]time.Time
	// quiet holds the last event recorded per alert and integration (see
	// events.add); an alert's marks go with the alert.
	quiet map[model.Fingerprint]map[string]quietMark
}

// newAggrGroup returns a group; start arms its timer.
func newAggrGroup(d *Dispatcher, id groupID, labels model.LabelSet) *aggrGroup {
	ag := &aggrGroup{
		id:     id,
		key:    groupKey(id.route, labels),
		labels: labels,
		route:  id.route,
		d:      d,
		alerts: map[model.Fingerprint]*Alert{},
	}
	// The timer is armed by start, once ag.timer is set (fire uses it)
	// and the group holds its first alert.
	ag.timer = d.clock.AfterFunc(time.Duration(math.MaxInt64), ag.fire)
	ag.timer.Stop()
	return ag
}

// start makes the first flush come after wait.
func (ag *aggrGroup) start(wait time.Duration) { ag.timer.Reset(wait) }

// insert adds or replaces an alert, unless it is new and the group holds
// max alerts already (0: no limit); it reports whether the alert is in the
// group. The caller holds the dispatcher's lock for reading, so the group
// cannot be removed meanwhile.
func (ag *aggrGroup) insert(a *Alert, max int) bool {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	old, ok := ag.alerts[a.fp]
	switch {
	case !ok && max > 0 && len(ag.alerts) >= max:
		return false
	case !ok || !old.UpdatedAt.After(a.UpdatedAt):
		ag.alerts[a.fp] = a
	}
	return true
}

// snapshot returns the group's alerts sorted by labels, as Alertmanager
// sends them. flushing marks the first flush as started.
func (ag *aggrGroup) snapshot(flushing bool) []*Alert {
	ag.mu.Lock()
	out := make([]*Alert, 0, len(ag.alerts))
	for _, a := range ag.alerts {
		out = append(out, a)
	}
	if flushing {
		ag.flushed = true
	}
	ag.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return alertLess(out[i], out[j]) })
	return out
}

// alertLess is Alertmanager's order of alerts in a notification: by job,
// then instance (an alert with the label before one without), then by
// labels.
func alertLess(a, b *Alert) bool {
	for _, ln := range [...]model.LabelName{"job", "instance"} {
		av, aok := a.Labels[ln]
		bv, bok := b.Labels[ln]
		switch {
		case !aok && !bok:
			continue
		case !aok:
			return false
		case !bok:
			return true
		case av != bv:
			return av < bv
		}
	}
	return a.Labels.Before(b.Labels)
}

// fire runs when the group's timer goes off.
func (ag *aggrGroup) fire() {
	d := ag.d
	if !d.beginFlush() {
		return // stopped
	}
	defer d.endFlush()
	ag.mu.Lock()
	if ag.removed || ag.flushing {
		ag.again = ag.flushing
		ag.mu.Unlock()
		return
	}
	ag.flushing = true
	ag.mu.Unlock()
	for {
		// Reset before flushing, so a slow flush does not push later
		// ones back, as in Alertmanager; unless the dispatcher stopped:
		// an armed timer would keep it reachable until it fires.
		d.resetUnlessStopped(ag.timer, ag.route.Opts.GroupInterval)
		ag.flush(d.ctx, d)
		if d.removeIfEmpty(ag) {
			return
		}
		ag.mu.Lock()
		if !ag.again || d.ctx.Err() != nil {
			ag.flushing, ag.again = false, false
			ag.mu.Unlock()
			return
		}
		ag.again = false
		ag.mu.Unlock()
	}
}

// flush sends the group's alerts through the pipeline; if that succeeded,
// resolved alerts that did not change meanwhile are dropped.
func (ag *aggrGroup) flush(ctx context.Context, d *Dispatcher) {
	alerts := ag.snapshot(true)
	if len(alerts) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, max(ag.route.Opts.GroupInterval, d.minFlushTimeout))
	defer cancel()
	now := d.now()
	defer func() { ag.prevFlush = now }()
	if !d.notify(ctx, ag, alerts, now) {
		return
	}
	settle := d.log.settle()
	ag.mu.Lock()
	for _, a := range alerts {
		if a.ResolvedAt(now) && ag.alerts[a.fp] == a && now.Sub(a.EndsAt) >= settle {
			delete(ag.alerts, a.fp)
			delete(ag.quiet, a.fp)
		}
	}
	ag.mu.Unlock()
}

// view returns a copy of the group for the API.
func (ag *aggrGroup) view() GroupView {
	return GroupView{
		Key:      ag.key,
		Labels:   ag.labels,
		Receiver: ag.route.Opts.Receiver,
		RouteKey: ag.route.Key,
		Alerts:   ag.snapshot(false),
	}
}

// GroupView is a read-only copy of an aggregation group.
type GroupView struct {
	Key      string
	Labels   model.LabelSet
	Receiver string
	RouteKey string
	Alerts   []*Alert
}

// groupKey returns the key of the aggregation group of route r for alerts
// with the group labels groupLabels (see Route.GroupLabels): unique per
// route and labels, as notifications and the notification log carry it.
func groupKey(r *Route, groupLabels model.LabelSet) string {
	return r.Key + ":" + groupLabels.String()
}

// owedFor returns how long the notification of log key has been owed, in
// the view of this replica, which is not the group's preferred sender: 0
// the first time, when it starts counting.
func (ag *aggrGroup) owedFor(key string, now time.Time) time.Duration {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	since, ok := ag.owed[key]
	if !ok {
		if ag.owed == nil {
			ag.owed = map[string]time.Time{}
		}
		ag.owed[key] = now
		return 0
	}
	return now.Sub(since)
}

// clearOwed records that the notification of key is not owed.
func (ag *aggrGroup) clearOwed(key string) {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	delete(ag.owed, key)
}
