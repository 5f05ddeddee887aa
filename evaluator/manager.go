package evaluator

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/alerter/alerter/rules"
)

// Options are a Manager's long-lived parts.
type Options struct {
	// Sink receives the alerts to send on; nil drops them.
	Sink Sink
	// Store persists alert states; nil keeps them in memory only.
	Store   StateStore
	Metrics *Metrics
	Logger  *slog.Logger
	// Ownership, if set, says which groups this process evaluates; nil:
	// every group.
	Ownership Ownership
	// OnTransition, if set, is told of every change of an alert's state
	// (pending, firing, inactive), from the goroutine evaluating its
	// rule: it must not block.
	OnTransition func(Transition)
}

// Config is one configuration of rules: what Update applies.
type Config struct {
	Files []*rules.File
	// Datasources by name; DefaultDatasource is used by groups that name none.
	Datasources       map[string]Datasource
	DefaultDatasource string
	// DefaultInterval applies to groups with neither interval nor schedule.
	DefaultInterval    time.Duration
	DefaultQueryOffset time.Duration
	ResendDelay        time.Duration
	// Concurrency is how many alerting rules of a group are queried at once.
	Concurrency    int
	ExternalLabels labels.Labels
	ExternalURL    *url.URL
}

// Manager runs the rule groups of the current configuration.
type Manager struct {
	opts Options

	// updateMu is held by Update, and by Run while it starts and stops the
	// groups. restored and loaded are used only under it.
	updateMu sync.Mutex
	// restored holds the states loaded from the store at the first Update,
	// for groups that start without a previous version in memory.
	restored map[string][]RuleAlerts
	loaded   bool

	// mu guards the map of groups and the run state, and is held only to
	// read or swap them.
	mu      sync.Mutex
	groups  map[string]*Group
	runCtx  context.Context // nil until Run
	stopped bool
	// datasources are the current configuration's, by name; the default
	// one is also under "".
	datasources map[string]Datasource
}

// NewManager returns a Manager with no groups.
func NewManager(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	return &Manager{opts: opts, groups: map[string]*Group{}}
}

// Update applies a configuration. Everything that can fail is done before
// any running group is touched: on error the previous groups keep running
// unchanged. Groups whose definition is unchanged keep running; changed ones
// are restarted with the state of their rules copied over; removed ones are
// stopped and their saved state deleted.
//
// Locking: updateMu makes Updates (and Run's start and end) take turns;
// m.mu guards the map of groups only, and is held just to read it and to
// swap it. Stopping the old groups (which waits for an evaluation in
// progress) and deleting saved states happen outside it, so readers
// (/api/v1/rules, the UI, /metrics) are never held up by a reload: they
// see the old groups until the swap, the new ones after.
func (m *Manager) Update(ctx context.Context, cfg Config) error {
	m.updateMu.Lock()
	defer m.updateMu.Unlock()
	m.mu.Lock()
	stopped, current := m.stopped, m.groups
	m.mu.Unlock()
	if stopped {
		return errors.New("the rule manager is stopped")
	}
	if err := m.loadStates(ctx); err != nil {
		return err
	}
	newGroups, err := m.build(cfg)
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	removed := maps.Clone(current)
	for key, ng := range newGroups {
		old, ok := current[key]
		delete(removed, key)
		if ok && old.definition == ng.definition {
			newGroups[key] = old
			continue
		}
		wg.Go(func() {
			if ok {
				old.stop()
				ng.copyState(old)
			} else if states, found := m.restored[key]; found {
				ng.restoreStates(states)
				ng.sendRestored(ctx, time.Now())
			}
		})
	}
	for key, old := range removed {
		wg.Go(func() {
			old.stop()
			m.opts.Metrics.forget(key)
		})
	}
	wg.Wait()

	m.mu.Lock()
	m.groups = newGroups
	m.datasources = maps.Clone(cfg.Datasources)
	if ds, ok := cfg.Datasources[cfg.DefaultDatasource]; ok {
		m.datasources[""] = ds
	}
	running := m.runCtx
	m.mu.Unlock()
	for _, g := range newGroups {
		m.opts.Metrics.interval.WithLabelValues(g.key).Set(g.interval.Seconds())
		m.opts.Metrics.groupRules.WithLabelValues(g.key).Set(float64(len(g.rules)))
		if running != nil && g.terminated == nil {
			g.start(running)
		}
	}
	for key := range removed {
		if m.opts.Store == nil {
			break
		}
		if err := m.opts.Store.DeleteAlertStates(ctx, key); err != nil {
			m.opts.Logger.Error("Deleting the alert states of a removed group failed", "group", key, "err", err)
		}
	}
	m.forgetUnusedStates(ctx, newGroups)
	return nil
}

// Datasources returns the current configuration's datasources by name,
// the default one also under "".
func (m *Manager) Datasources() map[string]Datasource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.datasources
}

// loadStates reads the saved alert states, once.
func (m *Manager) loadStates(ctx context.Context) error {
	if m.loaded || m.opts.Store == nil {
		return nil
	}
	states, err := m.opts.Store.LoadAlertStates(ctx)
	if err != nil {
		return fmt.Errorf("read saved alert states: %w", err)
	}
	m.restored, m.loaded = states, true
	return nil
}

// forgetUnusedStates deletes saved states of groups that are not in the
// first configuration (they were removed while alerter was down).
func (m *Manager) forgetUnusedStates(ctx context.Context, groups map[string]*Group) {
	for key := range m.restored {
		if _, ok := groups[key]; ok || m.opts.Store == nil {
			continue
		}
		if err := m.opts.Store.DeleteAlertStates(ctx, key); err != nil {
			m.opts.Logger.Error("Deleting the alert states of a removed group failed", "group", key, "err", err)
		}
	}
	m.restored = nil
}

// Run starts the groups and evaluates them until ctx ends; then it stops
// every group and returns.
func (m *Manager) Run(ctx context.Context) {
	m.updateMu.Lock()
	m.mu.Lock()
	m.runCtx = ctx
	groups := slices.Collect(maps.Values(m.groups))
	m.mu.Unlock()
	for _, g := range groups {
		if g.terminated == nil {
			g.start(ctx)
		}
	}
	m.updateMu.Unlock()
	<-ctx.Done()
	m.updateMu.Lock()
	defer m.updateMu.Unlock()
	m.mu.Lock()
	m.stopped = true
	groups = slices.Collect(maps.Values(m.groups))
	m.mu.Unlock()
	for _, g := range groups {
		g.stop()
	}
}

func (g *Group) start(ctx context.Context) {
	ctx, g.cancel = context.WithCancel(ctx)
	g.terminated = make(chan struct{})
	go g.run(ctx)
}

// stop ends the group's goroutine and waits for it. A group that never
// started has nothing to stop.
func (g *Group) stop() {
	if g.terminated == nil {
		return
	}
	g.cancel()
	<-g.terminated
}

// build turns a configuration into groups, or fails without side effects.
func (m *Manager) build(cfg Config) (map[string]*Group, error) {
	list, err := buildGroups(cfg, m.opts)
	groups := make(map[string]*Group, len(list))
	for _, g := range list {
		groups[g.key] = g
	}
	return groups, err
}

// buildGroups turns a configuration into groups, in file order.
func buildGroups(cfg Config, opts Options) ([]*Group, error) {
	sh := &shared{
		sink:           opts.Sink,
		store:          opts.Store,
		metrics:        opts.Metrics,
		logger:         opts.Logger,
		externalLabels: cfg.ExternalLabels,
		extLabelsMap:   cfg.ExternalLabels.Map(),
		externalURL:    cfg.ExternalURL,
		resendDelay:    cfg.ResendDelay,
		concurrency:    max(cfg.Concurrency, 1),
		ownership:      opts.Ownership,
		onTransition:   opts.OnTransition,
	}
	var (
		groups []*Group
		seen   = map[string]bool{}
		errs   []error
	)
	for _, f := range cfg.Files {
		for i := range f.Groups {
			g, err := buildGroup(f.Path, &f.Groups[i], &cfg, sh)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if seen[g.key] {
				errs = append(errs, fmt.Errorf("%s: group %q is defined twice", f.Path, g.name))
				continue
			}
			seen[g.key] = true
			groups = append(groups, g)
		}
	}
	return groups, errors.Join(errs...)
}

func buildGroup(file string, rg *rules.RuleGroup, cfg *Config, sh *shared) (*Group, error) {
	dsName := rg.Datasource
	if dsName == "" {
		dsName = cfg.DefaultDatasource
	}
	ds, ok := cfg.Datasources[dsName]
	if !ok {
		if dsName == "" {
			return nil, fmt.Errorf("%s: group %q: no datasource is configured", file, rg.Name)
		}
		return nil, fmt.Errorf("%s: group %q: unknown datasource %q", file, rg.Name, dsName)
	}
	g := &Group{
		key: GroupKey(file, rg.Name), file: file, name: rg.Name,
		interval: cfg.DefaultInterval, limit: rg.Limit, ds: ds, sh: sh,
		queryOffset: cfg.DefaultQueryOffset,
		sem:         make(chan struct{}, sh.concurrency),
	}
	if rg.Interval > 0 {
		g.interval = rg.Interval
	}
	if rg.QueryOffset != nil {
		g.queryOffset = *rg.QueryOffset
	}
	if rg.Schedule != "" {
		sched, err := rules.ParseSchedule(rg.Schedule)
		if err != nil {
			return nil, fmt.Errorf("%s: group %q: invalid schedule: %w", file, rg.Name, err)
		}
		g.schedule, g.scheduleStr = sched, rg.Schedule
		n1 := sched.Next(time.Now())
		g.interval = max(sched.Next(n1).Sub(n1), time.Second)
	}
	if g.interval <= 0 {
		return nil, fmt.Errorf("%s: group %q: the evaluation interval must be positive", file, rg.Name)
	}
	g.addRules(rg, cfg)
	exprs, writes := make([]string, len(rg.Rules)), make([][]string, len(rg.Rules))
	for i, r := range rg.Rules {
		exprs[i] = r.Expr
		switch {
		case r.Record != "":
			writes[i] = []string{r.Record}
		case g.ds.Appender != nil:
			writes[i] = []string{alertsMetric, alertsForStateMetric}
		}
	}
	g.deps = ruleDeps(exprs, writes)
	g.definition = definition(file, rg, g, cfg, sh)
	return g, nil
}

// addRules creates the group's rules, with the group's labels merged in.
func (g *Group) addRules(rg *rules.RuleGroup, cfg *Config) {
	seen := map[string]int{}
	base := urlString(cfg.ExternalURL)
	for _, r := range rg.Rules {
		lbls := mergeLabels(rg.Labels, r.Labels)
		key := r.Name() + lbls.String()
		seen[key]++
		if n := seen[key]; n > 1 {
			key = fmt.Sprintf("%s#%d", key, n)
		}
		g.ruleKeys = append(g.ruleKeys, key)
		g.prevSeries = append(g.prevSeries, nil)
		if r.IsAlerting() {
			g.rules = append(g.rules, NewAlertingRule(r.Alert, r.Expr, r.For, r.KeepFiringFor, lbls, labels.FromMap(r.Annotations)))
			g.genURLs = append(g.genURLs, g.sourceLink(r.Alert, rg.Name, r.Expr, base))
			continue
		}
		rr := NewRecordingRule(r.Record, r.Expr, lbls)
		if g.ds.Appender == nil {
			rr.status.notEvaluated(fmt.Sprintf("not evaluated: datasource %q has nowhere to write recorded series (give it a remote_write url, or use an embedded datasource)", g.ds.Name))
		}
		g.rules = append(g.rules, rr)
		g.genURLs = append(g.genURLs, "")
	}
}

// sourceLink returns the generatorURL of an alerting rule's alerts, ""
// when the datasource gives none (an error is logged).
func (g *Group) sourceLink(rule, group, expr, externalURL string) string {
	if g.ds.SourceLink == nil {
		return ""
	}
	link, err := g.ds.SourceLink(rule, group, expr, externalURL)
	if err != nil {
		g.sh.logger.Warn("The source link of a rule could not be made; its alerts have none", "group", group, "rule", rule, "err", err)
		return ""
	}
	return link
}

func mergeLabels(group, rule map[string]string) labels.Labels {
	if len(group) == 0 {
		return labels.FromMap(rule)
	}
	m := maps.Clone(group)
	maps.Copy(m, rule)
	return labels.FromMap(m)
}

// definition hashes everything that defines a running group, so that a
// reload can tell whether the group changed. Positions are left out: moving
// a group in its file does not change it.
func definition(file string, rg *rules.RuleGroup, g *Group, cfg *Config, sh *shared) [sha256.Size]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%v|%s|%v|%d|%s@%s|", file, rg.Name, g.interval, rg.Schedule, g.queryOffset, rg.Limit, g.ds.Name, g.ds.Version)
	fmt.Fprintf(h, "%v|%s|%v|%d|%v|", cfg.ExternalLabels, urlString(cfg.ExternalURL), sh.resendDelay, sh.concurrency, rg.Labels)
	for _, r := range rg.Rules {
		r.Pos = rules.Position{}
		fmt.Fprintf(h, "%#v|", r)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// GroupStatus is a read-only view of a group, for the API and the UI.
type GroupStatus struct {
	Key, File, Name string
	Interval        time.Duration
	Schedule        string
	QueryOffset     time.Duration
	Limit           int
	Datasource      string
	LastEvaluation  time.Time
	EvaluationTime  time.Duration
	Rules           []RuleStatus
}

// RuleStatus is a read-only view of a rule and its alerts.
type RuleStatus struct {
	Name          string
	Alerting      bool
	Query         string
	For           time.Duration
	KeepFiringFor time.Duration
	Labels        labels.Labels
	Annotations   labels.Labels
	Health        Health
	LastError     string
	Last          Evaluation
	// State is the highest state of the rule's alerts (StateUnknown before
	// the first evaluation).
	State   AlertState
	Alerts  []Alert
	History []Evaluation
}

// GroupKeys returns the keys of the groups of the current configuration.
func (m *Manager) GroupKeys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := slices.Collect(maps.Keys(m.groups))
	slices.Sort(keys)
	return keys
}

// Groups returns a snapshot of every group, sorted by file and name.
func (m *Manager) Groups() []GroupStatus {
	m.mu.Lock()
	groups := slices.Collect(maps.Values(m.groups))
	m.mu.Unlock()
	sort.Slice(groups, func(i, j int) bool {
		if groups[i].file != groups[j].file {
			return groups[i].file < groups[j].file
		}
		return groups[i].name < groups[j].name
	})
	out := make([]GroupStatus, 0, len(groups))
	for _, g := range groups {
		out = append(out, g.status())
	}
	return out
}

func (g *Group) status() GroupStatus {
	g.mu.Lock()
	gs := GroupStatus{
		Key: g.key, File: g.file, Name: g.name, Interval: g.interval, Schedule: g.scheduleStr,
		QueryOffset: g.queryOffset, Limit: g.limit, Datasource: g.ds.Name,
		LastEvaluation: g.lastEval, EvaluationTime: g.evalDuration,
	}
	g.mu.Unlock()
	for _, r := range g.rules {
		var rs RuleStatus
		rs.Health, rs.LastError, rs.Last, rs.History = r.statusRef().snapshot()
		switch r := r.(type) {
		case *AlertingRule:
			rs.Name, rs.Alerting, rs.Query = r.name, true, r.expr
			rs.For, rs.KeepFiringFor = r.holdDuration, r.keepFiringFor
			rs.Labels, rs.Annotations = r.labels, r.annotations
			rs.Alerts = r.Alerts()
			// Unknown until evaluated, unless alerts were restored.
			if !rs.Last.Time.IsZero() || len(rs.Alerts) > 0 {
				rs.State = r.state()
			}
		case *RecordingRule:
			rs.Name, rs.Query, rs.Labels = r.name, r.expr, r.labels
		}
		gs.Rules = append(gs.Rules, rs)
	}
	return gs
}

// AlertCounts returns how many alerts are in each state, for metrics.
func (m *Manager) AlertCounts() map[AlertState]int {
	counts := map[AlertState]int{StateInactive: 0, StatePending: 0, StateFiring: 0}
	m.mu.Lock()
	groups := slices.Collect(maps.Values(m.groups))
	m.mu.Unlock()
	for _, g := range groups {
		for _, r := range g.rules {
			if ar, ok := r.(*AlertingRule); ok {
				ar.mu.Lock()
				for _, a := range ar.active {
					counts[a.State]++
				}
				ar.mu.Unlock()
			}
		}
	}
	return counts
}
