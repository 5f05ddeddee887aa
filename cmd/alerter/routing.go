package main

import (
	"cmp"
	"context"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/silences"
	"github.com/alerter/alerter/storage"
	alerterweb "github.com/alerter/alerter/web"
)

// routing owns the routing half. Long-lived: the alert store, the silences,
// the notification log and the notification history (the last three
// durable). Config-scoped: the dispatcher with its routing tree, inhibit
// rules and integrations, built by prepare (which may fail and changes
// nothing) and swapped in by commit.
type routing struct {
	store    *dispatch.Store
	silences *silences.Store
	nflog    *dispatch.NotificationLog
	history  *storage.History
	events   *storage.Events
	metrics  *dispatch.Metrics
	logger   *slog.Logger
	// gcEvery is how often expired notification log entries are deleted.
	gcEvery time.Duration
	limits  routingLimits
	// hold and alertsGC: see routingOptions.
	hold     time.Time
	alertsGC time.Duration
	// silenceSync is how often the silences are read back from a shared
	// database (PostgreSQL), so that those other processes made apply
	// here; 0: not shared.
	silenceSync time.Duration
	// alertSource, when replicas share the database, gives the alerts the
	// others wrote, read every alertSyncInterval.
	alertSource dispatch.AlertSource
	// refusing is set while the store refuses the evaluator's new alerts.
	refusing atomic.Bool
	// slackMessages remembers the Slack messages update_message edits.
	slackMessages notifiers.SlackMemory

	swapMu  sync.Mutex // one commit at a time
	current atomic.Pointer[routingConfig]
	// stopping tracks old dispatchers finishing their flushes.
	stopping sync.WaitGroup
}

// routingConfig is one configuration's routing: nil dispatcher without a
// route.
type routingConfig struct {
	disp       *dispatch.Dispatcher
	configYAML string
	receivers  []string
	// integrations by receiver name, for receiver tests.
	integrations map[string][]dispatch.Integration
}

// prepare builds the routing of cfg without touching the running one.
func (r *routing) prepare(cfg *config.Config, externalURL string) (*routingConfig, error) {
	rc := &routingConfig{configYAML: cfg.AlertmanagerYAML()}
	rt := cfg.Routing
	if rt == nil {
		return rc, nil
	}
	for _, rcv := range rt.Receivers {
		rc.receivers = append(rc.receivers, rcv.Name)
	}
	sort.Strings(rc.receivers)
	tmpl, err := notifiers.LoadTemplate(rt, externalURL)
	if err != nil {
		return nil, err
	}
	integrations, err := notifiers.Build(rt, notifiers.Options{
		Template: tmpl, UserAgent: "alerter/" + version(), SlackMessages: &r.slackMessages,
		Logger: r.logger.With("component", "notify"),
	})
	if err != nil {
		return nil, err
	}
	d, err := dispatch.NewDispatcher(dispatch.Options{
		Route:         dispatch.NewRoute(rt.Route),
		Receivers:     integrations,
		Inhibitor:     dispatch.NewInhibitor(rt.InhibitRules),
		Silencer:      r.silences,
		TimeIntervals: timeinterval.NewIntervener(rt.TimeIntervals),
		Log:           r.nflog,
		History:       r.history,
		Events:        r.events,
		Logger:        r.logger,
		Metrics:       r.metrics,
		MaxGroups:     r.limits.groups, MaxAlertsPerGroup: r.limits.perGroup, HoldUntil: r.hold,
	})
	if err != nil {
		return nil, err
	}
	rc.disp, rc.integrations = d, integrations
	return rc, nil
}

// commit makes rc the running routing. The old dispatcher finishes its
// flushes in the background; the notification log keeps the new one from
// sending again what the old one sent.
func (r *routing) commit(cfg *config.Config, rc *routingConfig) {
	r.swapMu.Lock()
	defer r.swapMu.Unlock()
	resolve := config.DefaultResolveTimeout
	if cfg.Routing != nil {
		resolve = cfg.Routing.ResolveTimeout
	}
	r.store.SetResolveTimeout(resolve)
	old := r.store.SetDispatcher(rc.disp)
	r.current.Store(rc)
	if old != nil {
		r.stopping.Go(old.Stop)
	}
}

// stop ends the running dispatcher, waits for every flush and writes the
// history of their last attempts.
func (r *routing) stop() {
	r.swapMu.Lock()
	defer r.swapMu.Unlock()
	if old := r.store.SetDispatcher(nil); old != nil {
		old.Stop()
	}
	r.stopping.Wait()
	if err := r.history.Flush(context.Background()); err != nil {
		r.logger.Warn("Writing the notification history at shutdown failed", "err", err)
	}
	if err := r.events.Flush(context.Background()); err != nil {
		r.logger.Warn("Writing the alert events at shutdown failed", "err", err)
	}
	if err := r.store.Persist(context.Background()); err != nil {
		r.logger.Warn("Writing the alerts at shutdown failed", "err", err)
	}
}

// alertSyncInterval is how often a replica reads the alerts and the
// notification log entries the others wrote: an alert posted to one
// replica reaches the others within this and alertPersistInterval.
const alertSyncInterval = 500 * time.Millisecond

// share makes the routing one replica of those sharing db: the alerts the
// others write are read into the store, and every notification is claimed
// (as replica) before it is decided and sent; prefers says which groups
// this replica sends for while the others are alive.
func (r *routing) share(db *storage.DB, replica string, prefers func(groupKey string) bool, reg prometheus.Registerer) {
	r.alertSource = db.AlertSource()
	r.nflog.Share(db.Claims(), replica, dispatch.ClaimOptions{Prefers: prefers}, dispatch.NewClaimMetrics(reg), r.logger.With("component", "claims"))
}

// alertPersistInterval is how often the alerts that changed are written:
// what a crash can lose, and what senders re-send within their resend
// delay.
const alertPersistInterval = time.Second

// run collects garbage until ctx ends: resolved alerts every minute,
// expired notification log entries, silences and history every maintenance
// interval (dataLifetime.interval). It writes the alerts that changed every
// second; the notification history writes attempts meanwhile.
func (r *routing) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { r.silences.Run(ctx) })
	wg.Go(func() { r.history.Run(ctx) })
	wg.Go(func() { r.events.Run(ctx) })
	if r.silenceSync > 0 {
		wg.Go(func() { r.silences.RunSync(ctx, r.silenceSync) })
	}
	if r.alertSource != nil {
		wg.Go(func() { r.store.RunSync(ctx, r.alertSource, alertSyncInterval, r.logger) })
		wg.Go(func() { r.nflog.RunSync(ctx, alertSyncInterval, r.logger) })
	}
	alerts := time.NewTicker(r.alertsGC)
	defer alerts.Stop()
	logs := time.NewTicker(r.gcEvery)
	defer logs.Stop()
	persist := time.NewTicker(alertPersistInterval)
	defer persist.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-persist.C:
			err := r.store.Persist(ctx)
			if err != nil && ctx.Err() != nil {
				continue
			}
			if (err != nil) != failing {
				failing = err != nil
				if failing {
					r.logger.Error("Writing the alerts failed; retried every second", "err", err)
				} else {
					r.logger.Info("Writing the alerts works again")
				}
			}
		case <-alerts.C:
			r.store.GC()
		case <-logs.C:
			if _, err := r.nflog.GC(ctx, time.Now()); err != nil && ctx.Err() == nil {
				r.logger.Warn("Removing expired notification log entries failed", "err", err)
			}
		}
	}
}

// Store implements web.Routing.
func (r *routing) Store() *dispatch.Store { return r.store }

// Dispatcher implements web.Routing.
func (r *routing) Dispatcher() *dispatch.Dispatcher {
	if rc := r.current.Load(); rc != nil {
		return rc.disp
	}
	return nil
}

// ConfigYAML implements web.Routing.
func (r *routing) ConfigYAML() string {
	if rc := r.current.Load(); rc != nil {
		return rc.configYAML
	}
	return ""
}

// ReceiverNames implements web.Routing.
func (r *routing) ReceiverNames() []string {
	if rc := r.current.Load(); rc != nil {
		return rc.receivers
	}
	return nil
}

// Send hands the evaluator's alerts to the alert store, as Prometheus
// sends them to Alertmanager: same labels, annotations and times.
func (r *routing) Send(_ context.Context, alerts []evaluator.PostableAlert) {
	out := make([]*dispatch.Alert, len(alerts))
	for i, a := range alerts {
		out[i] = &dispatch.Alert{
			Labels:       labelSet(a.Labels),
			Annotations:  labelSet(a.Annotations),
			StartsAt:     a.StartsAt,
			EndsAt:       a.EndsAt,
			GeneratorURL: a.GeneratorURL,
		}
	}
	err := r.store.Put(out)
	// Logged when refusals start and when they stop; every refused alert
	// is counted in alerter_alerts_rejected_total.
	if refusing := err != nil; r.refusing.Swap(refusing) != refusing {
		if refusing {
			r.logger.Warn("The alert store refuses new alerts of rules", "err", err)
		} else {
			r.logger.Info("The alert store takes new alerts of rules again")
		}
	}
}

func labelSet(ls labels.Labels) model.LabelSet {
	out := make(model.LabelSet, ls.Len())
	ls.Range(func(l labels.Label) { out[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return out
}

// dataLifetime says how long expired data is kept (--data.retention) and
// how often it is deleted (--data.maintenance-interval).
type dataLifetime struct {
	retention   time.Duration
	maintenance time.Duration // 0: derived from retention
}

// maxMaintenanceInterval is Alertmanager's default maintenance interval.
const maxMaintenanceInterval = 15 * time.Minute

// interval returns how often expired data is deleted: the interval set,
// or a tenth of the retention (at least a second, at most 15 minutes), so
// that a short retention is kept to and not overrun by 15 minutes.
func (d dataLifetime) interval() time.Duration {
	if d.maintenance > 0 {
		return d.maintenance
	}
	return min(max(d.retention/10, time.Second), maxMaintenanceInterval)
}

// routingLimits bound the alert store and the aggregation groups (the
// --alerts.* and --dispatch.max-* flags); zero means no limit.
type routingLimits struct {
	store            dispatch.StoreLimits
	groups, perGroup int
}

// routingOptions are the long-lived routing state's settings.
type routingOptions struct {
	db     *storage.DB
	data   dataLifetime
	limits routingLimits
	// holdUntil holds the first flush of every group until then
	// (--dispatch.start-delay after the start).
	holdUntil time.Time
	// alertsGC is how often resolved alerts are dropped; 0: a minute.
	alertsGC time.Duration
	// silenceSync: see routing.silenceSync.
	silenceSync time.Duration
	// shared is set when replicas share db.
	shared bool
	reg    prometheus.Registerer
	logger *slog.Logger
}

// newRouting opens the long-lived routing state from opts.db.
func newRouting(ctx context.Context, opts routingOptions) (*routing, error) {
	db, data, reg, logger := opts.db, opts.data, opts.reg, opts.logger
	retention := data.retention
	sils, err := silences.New(ctx, silences.Options{
		Persister: db.Silences(), Retention: retention, GCInterval: data.interval(), Logger: logger, Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	nflog, err := dispatch.NewNotificationLog(ctx, db.NotificationLog(), retention)
	if err != nil {
		return nil, err
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "alerter_notification_log_entries",
		Help: "Entries of the notification log (each written to disk before it counts here).",
	}, func() float64 { return float64(nflog.Len()) }))
	history := storage.NewHistory(db, storage.HistoryOptions{
		Retention: retention, GCInterval: data.interval(), Registerer: reg, Logger: logger,
	})
	r := &routing{
		store:    dispatch.NewStore(config.DefaultResolveTimeout, nil),
		silences: sils,
		nflog:    nflog,
		history:  history,
		events: storage.NewEvents(db, storage.EventsOptions{
			Retention: retention, GCInterval: data.interval(), Registerer: reg, Logger: logger,
		}),
		metrics:     dispatch.NewMetrics(reg),
		logger:      logger,
		gcEvery:     data.interval(),
		limits:      opts.limits,
		hold:        opts.holdUntil,
		alertsGC:    cmp.Or(opts.alertsGC, time.Minute),
		silenceSync: opts.silenceSync,
	}
	r.store.SetLimits(opts.limits.store, r.metrics)
	restore := r.store.Restore
	if opts.shared {
		// Replicas running on the database keep its alerts up to date:
		// none ended unseen while this one was down.
		live, err := db.Replicas(ctx, time.Now().Add(-peerTimeout))
		if err != nil {
			return nil, err
		}
		if len(live) > 0 {
			restore = r.store.RestoreLive
		}
	}
	n, err := restore(ctx, db.Alerts())
	if err != nil {
		return nil, err
	}
	logger.Info("Alerts restored", "alerts", n)
	return r, nil
}

// historyView serves the notification history to web.
type historyView struct{ h *storage.History }

// List implements web.NotificationHistory.
func (v historyView) List(ctx context.Context, f alerterweb.NotificationFilter) ([]alerterweb.Notification, error) {
	entries, err := v.h.List(ctx, storage.HistoryFilter{
		Receiver: f.Receiver, GroupKey: f.GroupKey, Integration: f.Integration, Status: f.Status,
		Limit: f.Limit, Before: f.Before,
	})
	if err != nil {
		return nil, err
	}
	out := make([]alerterweb.Notification, len(entries))
	for i, e := range entries {
		out[i] = alerterweb.Notification{ID: e.ID, Attempt: e.Attempt, AlertsTotal: e.AlertsTotal}
	}
	return out, nil
}

// transition records an evaluation's change of an alert's state among the
// alert's events, under the fingerprint the alert is routed by.
func (r *routing) transition(t evaluator.Transition) {
	ls := make(model.LabelSet, t.Labels.Len())
	t.Labels.Range(func(l labels.Label) { ls[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	kind := dispatch.EventInactive
	switch t.To {
	case evaluator.StatePending:
		kind = dispatch.EventPending
	case evaluator.StateFiring:
		kind = dispatch.EventFiring
	}
	r.events.RecordEvents(context.Background(), []dispatch.Event{{
		At: t.At, Fingerprint: ls.Fingerprint(), Labels: ls, Kind: kind, Rule: t.Rule,
		Value: strconv.FormatFloat(t.Value, 'g', -1, 64),
	}})
}

// Summary implements web.ReceiverSummaries.
func (v historyView) Summary(ctx context.Context, receivers []string, since time.Time) ([]alerterweb.ReceiverSummary, error) {
	sums, err := v.h.Summary(ctx, receivers, since)
	if err != nil {
		return nil, err
	}
	out := make([]alerterweb.ReceiverSummary, len(sums))
	for i, s := range sums {
		out[i] = alerterweb.ReceiverSummary(s)
	}
	return out, nil
}

// eventsView serves the alerts' timelines to web.
type eventsView struct{ e *storage.Events }

// Timeline implements web.AlertEvents.
func (v eventsView) Timeline(ctx context.Context, q alerterweb.TimelineQuery) ([]alerterweb.AlertTimeline, bool, error) {
	tls, more, err := v.e.Timeline(ctx, storage.TimelineQuery{Fingerprints: q.Fingerprints, Matchers: q.Matchers, Since: q.Since})
	if err != nil {
		return nil, false, err
	}
	out := make([]alerterweb.AlertTimeline, len(tls))
	for i, tl := range tls {
		out[i] = alerterweb.AlertTimeline{Fingerprint: tl.Fingerprint, Labels: tl.Labels, Events: tl.Events, Truncated: tl.Truncated}
	}
	return out, more, nil
}
