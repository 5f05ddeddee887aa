package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/common/model"
)

// Options configure a Dispatcher. Route, Log and Receivers are required.
type Options struct {
	Route *Route
	// Receivers maps each receiver name to its integrations.
	Receivers map[string][]Integration
	Inhibitor *Inhibitor // nil: no inhibit rules
	Silencer  Silencer   // nil: nothing is silenced
	// TimeIntervals resolves the routes' mute and active time intervals.
	TimeIntervals *timeinterval.Intervener
	Log           *NotificationLog
	History       History // nil: attempts are not recorded
	// Events, if set, records what happened to each alert: each flush's
	// outcome for it, with its receiver and group (see Event).
	Events  EventRecorder
	Logger  *slog.Logger
	Metrics *Metrics
	Now     func() time.Time // default time.Now
	// Clock, if set, replaces Now and the timers of the aggregation
	// groups (a simulated clock).
	Clock Clock
	// OnMuted, if set, is told of every flush whose alerts were all muted
	// (by a time interval, silences or inhibition): nothing was sent.
	OnMuted func(MutedFlush)
	// MinFlushTimeout is the least time a flush may take (retries
	// included); the deadline is max(group_interval, this). Default 10s.
	MinFlushTimeout time.Duration
	// MaxGroups bounds the aggregation groups (Alertmanager's
	// --dispatch.max-number-of-aggregation-groups) and MaxAlertsPerGroup
	// the alerts of one group; zero means no limit. An alert that would
	// exceed one is not grouped (not notified) and is counted.
	MaxGroups, MaxAlertsPerGroup int
	// HoldUntil holds every group's first flush until then
	// (Alertmanager's --dispatch.start-delay, counted from the process's
	// start): senders have time to re-send their alerts after a restart.
	HoldUntil time.Time
}

// Reasons for keeping an alert out of an aggregation group.
const (
	NotGroupedGroupsLimit   = "aggregation_groups_limit"
	NotGroupedPerGroupLimit = "alerts_per_group_limit"
)

func (o *Options) validate() error {
	var errs []error
	if o.Route == nil {
		errs = append(errs, errors.New("dispatch: no route"))
	}
	if o.Log == nil {
		errs = append(errs, errors.New("dispatch: no notification log"))
	}
	if o.Route != nil {
		o.Route.Walk(func(r *Route) {
			if _, ok := o.Receivers[r.Opts.Receiver]; !ok {
				errs = append(errs, errors.New("dispatch: route "+r.Key+": no receiver "+r.Opts.Receiver))
			}
		})
	}
	return errors.Join(errs...)
}

// Dispatcher sorts alerts into aggregation groups and notifies receivers.
// It is config-scoped: a reload builds a new one, which Store.SetDispatcher
// loads with the stored alerts, and stops the old one.
type Dispatcher struct {
	route           *Route
	receivers       map[string][]Integration
	inhibitor       *Inhibitor
	silencer        Silencer
	intervals       *timeinterval.Intervener
	log             *NotificationLog
	history         History
	events          EventRecorder
	logger          *slog.Logger
	metrics         *Metrics
	now             func() time.Time
	clock           Clock
	onMuted         func(MutedFlush)
	minFlushTimeout time.Duration
	maxGroups       int
	maxPerGroup     int
	holdUntil       time.Time
	// limitLogged remembers the limits already logged as reached.
	limitLogged sync.Map

	ctx    context.Context
	cancel context.CancelFunc

	// flushes counts the flushes running; after Stop set stopped, no new
	// one starts.
	flushMu sync.Mutex
	stopped bool
	flushes sync.WaitGroup

	mu     sync.RWMutex // guards groups; held for reading while inserting
	groups map[groupID]*aggrGroup

	failMu   sync.Mutex
	failures map[string]string // class of the last failure per receiver and integration
}

// NewDispatcher returns a dispatcher. Its aggregation groups (each a timer)
// start as alerts arrive; Stop ends them.
func NewDispatcher(opts Options) (*Dispatcher, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Clock == nil {
		opts.Clock = realClock{now: opts.Now}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Inhibitor == nil {
		opts.Inhibitor = NewInhibitor(nil)
	}
	if opts.MinFlushTimeout == 0 {
		opts.MinFlushTimeout = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{
		route: opts.Route, receivers: opts.Receivers, inhibitor: opts.Inhibitor,
		silencer: opts.Silencer, intervals: opts.TimeIntervals, log: opts.Log, history: opts.History, events: opts.Events,
		logger: opts.Logger, metrics: opts.Metrics, now: opts.Clock.Now, clock: opts.Clock, onMuted: opts.OnMuted,
		minFlushTimeout: opts.MinFlushTimeout,
		maxGroups:       opts.MaxGroups, maxPerGroup: opts.MaxAlertsPerGroup, holdUntil: opts.HoldUntil,
		ctx: ctx, cancel: cancel,
		groups:   map[groupID]*aggrGroup{},
		failures: map[string]string{},
	}, nil
}

// Stop ends every aggregation group, waiting for flushes in progress.
func (d *Dispatcher) Stop() {
	d.flushMu.Lock()
	d.stopped = true
	d.flushMu.Unlock()
	d.cancel()
	d.mu.RLock()
	for _, ag := range d.groups {
		ag.timer.Stop()
	}
	d.mu.RUnlock()
	d.flushes.Wait()
}

// beginFlush registers a flush about to start, unless the dispatcher has
// stopped.
func (d *Dispatcher) beginFlush() bool {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	if d.stopped {
		return false
	}
	d.flushes.Add(1)
	return true
}

func (d *Dispatcher) endFlush() { d.flushes.Done() }

// resetUnlessStopped arms t, unless Stop has begun: Stop stops the timers
// after it marks the dispatcher stopped, so no timer is armed after it.
func (d *Dispatcher) resetUnlessStopped(t Timer, after time.Duration) {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	if !d.stopped {
		t.Reset(after)
	}
}

// ingest routes alerts into their aggregation groups.
func (d *Dispatcher) ingest(alerts []*Alert) {
	now := d.now()
	// Every alert is a possible inhibition source before any group can
	// flush, as Alertmanager loads its inhibitor before dispatching.
	for _, a := range alerts {
		d.inhibitor.observe(a)
	}
	// Groups made by this batch start their timers once the whole batch
	// is in: a group whose first flush is due at once (its first alert
	// started long ago, as after a restart or reload) must not flush
	// before the batch's other alerts of the group are in it, or it
	// notifies "all resolved" for a group that has firing alerts.
	var made []newGroup
	for _, a := range alerts {
		for _, r := range d.route.Match(a.Labels) {
			if ng, ok := d.insert(r, a, now); ok {
				made = append(made, ng)
			}
		}
	}
	for _, ng := range made {
		ng.ag.start(ng.wait)
	}
	if d.metrics != nil {
		d.metrics.received.Add(float64(len(alerts)))
	}
}

// newGroup is an aggregation group made by insert, and when its first
// flush is due.
type newGroup struct {
	ag   *aggrGroup
	wait time.Duration
}

// insert puts a into its group of route r, and returns the group if it
// made it: the caller starts its timer.
func (d *Dispatcher) insert(r *Route, a *Alert, now time.Time) (newGroup, bool) {
	labels := r.GroupLabels(a.Labels)
	id := groupID{route: r, fp: labels.Fingerprint()}
	d.mu.RLock()
	if ag := d.groups[id]; ag != nil {
		d.inserted(ag.insert(a, d.maxPerGroup), NotGroupedPerGroupLimit, d.maxPerGroup)
		d.mu.RUnlock()
		return newGroup{}, false
	}
	d.mu.RUnlock()

	d.mu.Lock()
	defer d.mu.Unlock()
	if ag := d.groups[id]; ag != nil {
		d.inserted(ag.insert(a, d.maxPerGroup), NotGroupedPerGroupLimit, d.maxPerGroup)
		return newGroup{}, false
	}
	if d.ctx.Err() != nil {
		return newGroup{}, false // stopped: a newer dispatcher has the alert
	}
	if d.maxGroups > 0 && len(d.groups) >= d.maxGroups {
		d.inserted(false, NotGroupedGroupsLimit, d.maxGroups)
		return newGroup{}, false
	}
	ag := newAggrGroup(d, id, labels)
	d.groups[id] = ag
	ag.insert(a, 0)
	wait := r.Opts.GroupWait
	if a.StartsAt.Add(wait).Before(now) {
		wait = 0 // the alert started long ago: flush at once
	}
	wait = max(wait, d.holdUntil.Sub(now))
	return newGroup{ag, wait}, true
}

// inserted counts an alert that a limit kept out of its group, and logs the
// first time each limit is reached.
func (d *Dispatcher) inserted(ok bool, reason string, limit int) {
	if ok {
		return
	}
	d.metrics.notGrouped(reason)
	if _, logged := d.limitLogged.LoadOrStore(reason, true); !logged {
		d.logger.Warn("Dispatch limit reached: alerts beyond it are not grouped or notified; they are counted in alerter_dispatch_alerts_not_grouped_total",
			"reason", reason, "limit", limit)
	}
}

// removeIfEmpty takes an empty group out of the map; the group's goroutine
// then ends. Holding the write lock means no insert is in progress.
func (d *Dispatcher) removeIfEmpty(ag *aggrGroup) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if len(ag.alerts) > 0 {
		return false
	}
	delete(d.groups, ag.id)
	ag.removed = true
	ag.timer.Stop()
	return true
}

// forget drops alerts the store dropped from the inhibition sources. The
// groups keep theirs until they have sent the resolution.
func (d *Dispatcher) forget(alerts []*Alert) {
	for _, a := range alerts {
		d.inhibitor.forget(a)
	}
}

// Groups returns a copy of every aggregation group, sorted by key.
func (d *Dispatcher) Groups() []GroupView {
	d.mu.RLock()
	groups := make([]*aggrGroup, 0, len(d.groups))
	for _, ag := range d.groups {
		groups = append(groups, ag)
	}
	d.mu.RUnlock()
	out := make([]GroupView, 0, len(groups))
	for _, ag := range groups {
		if v := ag.view(); len(v.Alerts) > 0 {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Receivers returns the receivers an alert with lset is routed to, in tree
// order, without duplicates.
func (d *Dispatcher) Receivers(lset model.LabelSet) []string {
	var out []string
	for _, r := range d.route.Match(lset) {
		if !containsString(out, r.Opts.Receiver) {
			out = append(out, r.Opts.Receiver)
		}
	}
	return out
}

// Inhibited reports the alert inhibiting lset now, if any.
func (d *Dispatcher) Inhibited(lset model.LabelSet) (model.Fingerprint, bool) {
	return d.inhibitor.Inhibited(lset, d.now())
}

// Route returns the routing tree.
func (d *Dispatcher) Route() *Route { return d.route }

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
