package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/model/labels"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/datasource/embedded"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/remotewrite"
)

type reloaderOptions struct {
	configFile      string
	externalURLFlag string
	listenAddress   string
	manager         *evaluator.Manager
	routing         *routing
	sources         *sources
	backtester      *backtester // nil: POST /api/v1/backtest is not served
	logger          *slog.Logger
	registerer      prometheus.Registerer
}

// reloader applies configurations: at start-up and on SIGHUP or
// POST /-/reload. A configuration that fails to load or apply is refused
// and the running one stays.
type reloader struct {
	opts reloaderOptions
	mu   sync.Mutex // one reload at a time
	// running summarises the configuration running now (nil before the
	// first), for losesEverything.
	running     *summary
	lastOK      prometheus.Gauge
	lastSuccess prometheus.Gauge
	reloads     *prometheus.CounterVec
}

func newReloader(opts reloaderOptions) *reloader {
	r := &reloader{
		opts: opts,
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "alerter_config_last_reload_successful", Help: "Whether the last configuration (re)load succeeded.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "alerter_config_last_reload_success_timestamp_seconds", Help: "When the configuration was last (re)loaded successfully.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_config_reloads_total", Help: "Configuration reloads, by result.",
		}, []string{"result"}),
	}
	// No reload has failed yet. Were it 0 until the first configuration
	// is applied, the self-monitoring rule AlerterConfigReloadFailed would
	// go pending on every start (the embedded datasource records the
	// metrics from the start); a first configuration that fails to apply
	// ends the process anyway.
	r.lastOK.Set(1)
	opts.registerer.MustRegister(r.lastOK, r.lastSuccess, r.reloads)
	return r
}

// reload reads the configuration again and applies it. Once started it
// runs to its end even if ctx (an HTTP request's) is cancelled: a client
// that hangs up must not cut the state writes of a reload short.
func (r *reloader) reload(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	l, _, err := loadFrugally(r.opts.configFile)
	if err == nil {
		r.logWarnings(l)
		err = losesEverything(r.running, l)
	}
	if err == nil {
		err = r.applyLocked(ctx, l)
	}
	if err != nil {
		r.lastOK.Set(0)
		r.reloads.WithLabelValues("failure").Inc()
		r.opts.logger.Error("Reloading the configuration failed; the previous one keeps running", "file", r.opts.configFile, "err", err)
		return err
	}
	r.reloads.WithLabelValues("success").Inc()
	r.opts.logger.Info("Configuration reloaded", "file", r.opts.configFile, "rule_files", len(l.files))
	return nil
}

// summary is what losesEverything compares of two configurations.
type summary struct {
	hasRoute bool
	rules    int
}

// losesEverything refuses a reload that would stop all notifications or
// all rules that the running configuration has: what a file written half
// (a config management tool, an editor saving in place) looks like. At
// start-up such a file is taken as it is; a restart applies it.
func losesEverything(running *summary, next *loaded) error {
	if running == nil {
		return nil
	}
	if running.hasRoute && !next.cfg.HasRoute() {
		return fmt.Errorf("%s has no route: it would stop every notification, so it is not reloaded (restart alerter to run without routing)", next.cfg.Path)
	}
	if n := running.rules; n > 0 && next.ruleCount() == 0 {
		return fmt.Errorf("%s names no rules (the running configuration has %d): it would stop every rule, so it is not reloaded (restart alerter to run without rules)", next.cfg.Path, n)
	}
	return nil
}

// logWarnings logs what the configuration holds that is legal but likely
// not meant.
func (r *reloader) logWarnings(l *loaded) {
	for _, w := range l.warnings {
		r.opts.logger.Warn("Configuration warning", "warning", w)
	}
}

// apply applies a loaded configuration (the first one, at start-up).
func (r *reloader) apply(ctx context.Context, l *loaded) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logWarnings(l)
	if err := r.applyLocked(ctx, l); err != nil {
		r.lastOK.Set(0)
		return err
	}
	return nil
}

func (r *reloader) applyLocked(ctx context.Context, l *loaded) error {
	ext, err := externalURL(r.opts.externalURLFlag, l.cfg.Global.ExternalURL, r.opts.listenAddress)
	if err != nil {
		return err
	}
	rc, err := r.opts.routing.prepare(l.cfg, ext.String())
	if err != nil {
		return err
	}
	// Datasources last of what can fail: a changed embedded datasource is
	// reopened here.
	ds, err := r.opts.sources.build(l.cfg)
	if err != nil {
		r.opts.sources.abandon()
		return err
	}
	ec := evaluatorConfig(l, ds, ext)
	if err := r.opts.manager.Update(ctx, ec); err != nil {
		r.opts.sources.abandon()
		return err
	}
	// No group uses an embedded datasource the configuration dropped, nor
	// a remote-write queue it replaced.
	r.opts.sources.retire(l.cfg)
	// The routing is swapped last: nothing after this can fail.
	r.opts.routing.commit(l.cfg, rc)
	if r.opts.backtester != nil {
		r.opts.backtester.set(l, ds, ext)
	}
	r.running = &summary{hasRoute: l.cfg.HasRoute(), rules: l.ruleCount()}
	r.lastOK.Set(1)
	r.lastSuccess.SetToCurrentTime()
	return nil
}

type sourcesOptions struct {
	storagePath string
	gatherer    prometheus.Gatherer
	registerer  prometheus.Registerer
	selfLabels  map[string]string
	logger      *slog.Logger
}

// sources builds the datasources of each configuration. Query clients of
// Prometheus-compatible APIs are rebuilt on every reload; embedded
// datasources hold a local database and live until the process ends (a
// change to their settings takes effect at the next start).
type sources struct {
	opts     sourcesOptions
	ctx      context.Context
	cancel   context.CancelFunc
	mu       sync.Mutex
	embedded map[string]*runningEmbedded
	// remote holds the remote-write queue of each datasource that has
	// one, kept across reloads while its settings stay; pending the
	// queues a configuration not applied yet built (build), which retire
	// puts in their place once the groups run on them, and abandon
	// closes when the configuration is refused.
	remote, pending map[string]*runningRemote
	remoteMetrics   *remotewrite.Metrics
	// flushing counts the replaced queues still sending what they hold.
	flushing sync.WaitGroup
}

type runningRemote struct {
	q       *remotewrite.Queue
	version string
}

// remoteFlushTimeout bounds the flush of a remote-write queue that is
// replaced (its settings changed) or stopped at shutdown.
const remoteFlushTimeout = 10 * time.Second

type runningEmbedded struct {
	db     *embedded.DB
	cfg    config.Datasource
	cancel context.CancelFunc // ends Run
	done   chan struct{}      // closed when Run has returned
}

// stop ends the datasource's feeding and closes it.
func (re *runningEmbedded) stop() error {
	re.cancel()
	<-re.done
	return re.db.Close()
}

// embeddedVersion identifies an embedded datasource's settings, so that the
// groups using it restart with it when they change.
func embeddedVersion(dc config.Datasource) string {
	return fmt.Sprintf("embedded|%q|%v|%v", dc.SeriesFiles, dc.ScrapeInterval, dc.Retention)
}

func newSources(ctx context.Context, opts sourcesOptions) *sources {
	ctx, cancel := context.WithCancel(ctx)
	return &sources{opts: opts, ctx: ctx, cancel: cancel, embedded: map[string]*runningEmbedded{},
		remote: map[string]*runningRemote{}, pending: map[string]*runningRemote{}, remoteMetrics: remotewrite.NewMetrics(opts.registerer)}
}

// build returns the evaluator's datasources for cfg, opening embedded
// datasources seen for the first time.
func (s *sources) build(cfg *config.Config) (map[string]evaluator.Datasource, error) {
	out := make(map[string]evaluator.Datasource, len(cfg.Datasources))
	for _, dc := range cfg.Datasources {
		link := func(rule, group, expr, externalURL string) (string, error) {
			return dc.SourceLink(config.SourceData{Expr: expr, Rule: rule, Group: group, ExternalURL: externalURL})
		}
		switch dc.Type {
		case config.TypePrometheus:
			c, err := newQueryClient(dc, time.Duration(dc.Timeout))
			if err != nil {
				return nil, err
			}
			ds := evaluator.Datasource{Name: dc.Name, Querier: c, Version: fingerprint(dc), SourceLink: link}
			if dc.RemoteWrite != nil {
				q, err := s.remoteQueue(dc, cfg.Global.ExternalLabels)
				if err != nil {
					return nil, err
				}
				ds.Appender = q
				ds.Version += "|" + remoteVersion(dc, cfg.Global.ExternalLabels)
			}
			out[dc.Name] = ds
		case config.TypeEmbedded:
			db, err := s.openEmbedded(dc, cfg.Global.EvaluationInterval)
			if err != nil {
				return nil, err
			}
			out[dc.Name] = evaluator.Datasource{Name: dc.Name, Querier: db, Appender: db, Version: embeddedVersion(dc) + "|" + dc.SourceURL, SourceLink: link}
		}
	}
	return out, nil
}

// remoteQueue returns the remote-write queue of dc: the running one while
// its settings stay, else a new one, pending until retire (or abandon).
func (s *sources) remoteQueue(dc config.Datasource, external map[string]string) (*remotewrite.Queue, error) {
	version := remoteVersion(dc, external)
	s.mu.Lock()
	defer s.mu.Unlock()
	if rr, ok := s.remote[dc.Name]; ok && rr.version == version {
		if p, ok := s.pending[dc.Name]; ok {
			p.q.Close(closedContext())
			delete(s.pending, dc.Name)
		}
		return rr.q, nil
	}
	if rr, ok := s.pending[dc.Name]; ok && rr.version == version {
		return rr.q, nil
	}
	rw := dc.RemoteWrite
	client, err := commoncfg.NewClientFromConfig(rw.HTTPConfig, "remote_write_"+dc.Name)
	if err != nil {
		return nil, fmt.Errorf("datasource %q: remote_write: %w", dc.Name, err)
	}
	qc := rw.QueueConfig
	q := remotewrite.New(remotewrite.Options{
		Name: dc.Name, URL: rw.URL, Client: client, Headers: rw.Headers, Timeout: time.Duration(rw.RemoteTimeout),
		Shards: qc.MaxShards, Capacity: qc.Capacity, MaxBytes: int(qc.MaxBytes), MaxSamplesPerSend: qc.MaxSamplesPerSend,
		BatchSendDeadline: time.Duration(qc.BatchSendDeadline), MinBackoff: time.Duration(qc.MinBackoff),
		MaxBackoff: time.Duration(qc.MaxBackoff), RetryOn429: qc.RetryOnRateLimit,
		ExternalLabels: labels.FromMap(external), Metrics: s.remoteMetrics,
		Logger: s.opts.logger.With("component", "remote_write", "datasource", dc.Name),
	})
	if old, ok := s.pending[dc.Name]; ok {
		old.q.Close(closedContext()) // built for a configuration never applied: it holds nothing
	}
	s.pending[dc.Name] = &runningRemote{q: q, version: version}
	return q, nil
}

// commitRemote puts the pending queues in place of those they replace,
// and stops the queues cfg has no use for; what they hold is sent for
// remoteFlushTimeout meanwhile. The caller holds s.mu.
func (s *sources) commitRemote(cfg *config.Config) {
	for name, rr := range s.pending {
		if old, ok := s.remote[name]; ok {
			s.flushing.Go(func() { flushRemote(old.q) })
		}
		s.remote[name] = rr
	}
	clear(s.pending)
	for name, rr := range s.remote {
		if ds, ok := cfg.Datasource(name); ok && ds.RemoteWrite != nil {
			continue
		}
		delete(s.remote, name)
		s.flushing.Go(func() { flushRemote(rr.q) })
	}
}

// abandon closes the queues built for a configuration that was refused.
func (s *sources) abandon() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range s.pending {
		rr.q.Close(closedContext())
	}
	clear(s.pending)
}

// closedContext is a context that has ended: a queue closed with it drops
// what it holds at once.
func closedContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// flushRemote closes q, sending what it holds for remoteFlushTimeout.
func flushRemote(q *remotewrite.Queue) {
	ctx, cancel := context.WithTimeout(context.Background(), remoteFlushTimeout)
	defer cancel()
	q.Close(ctx)
}

// remoteVersion identifies a datasource's remote-write settings.
func remoteVersion(dc config.Datasource, external map[string]string) string {
	node, _ := yaml.Marshal(&dc.RemoteWrite.HTTPConfigNode)
	rw := *dc.RemoteWrite
	rw.HTTPConfigNode, rw.HTTPConfig = yaml.Node{}, commoncfg.HTTPClientConfig{}
	sum := sha256.Sum256(fmt.Appendf(nil, "%+v|%s|%v", rw, node, external))
	return hex.EncodeToString(sum[:8])
}

func (s *sources) openEmbedded(dc config.Datasource, evaluationInterval config.Duration) (*embedded.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	re, ok := s.embedded[dc.Name]
	if ok && embeddedVersion(re.cfg) == embeddedVersion(dc) {
		return re.db, nil
	}
	if ok {
		// Changed: reopened with the new settings on the same store (one
		// process may hold it at a time). Should that fail, the old
		// settings are reopened, and the reload fails.
		if err := re.stop(); err != nil {
			s.opts.logger.Error("Closing an embedded datasource failed", "datasource", dc.Name, "err", err)
		}
		delete(s.embedded, dc.Name)
		db, err := s.startEmbedded(dc, evaluationInterval)
		if err != nil {
			if _, err2 := s.startEmbedded(re.cfg, evaluationInterval); err2 != nil {
				s.opts.logger.Error("Reopening an embedded datasource with its previous settings failed", "datasource", dc.Name, "err", err2)
			}
			return nil, err
		}
		s.opts.logger.Info("Embedded datasource reopened with its new settings", "datasource", dc.Name)
		return db, nil
	}
	return s.startEmbedded(dc, evaluationInterval)
}

// retire stops and closes the embedded datasources cfg does not have, and
// puts the remote-write queues built for cfg in place (commitRemote): the
// groups of cfg run on them now.
func (s *sources) retire(cfg *config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commitRemote(cfg)
	for name, re := range s.embedded {
		if ds, ok := cfg.Datasource(name); ok && ds.Type == config.TypeEmbedded {
			continue
		}
		if err := re.stop(); err != nil {
			s.opts.logger.Error("Closing an embedded datasource failed", "datasource", name, "err", err)
		}
		delete(s.embedded, name)
		s.opts.logger.Info("Embedded datasource closed: the configuration no longer has it", "datasource", name)
	}
}

// startEmbedded opens an embedded datasource and starts feeding it. The
// caller holds s.mu.
func (s *sources) startEmbedded(dc config.Datasource, evaluationInterval config.Duration) (*embedded.DB, error) {
	db, err := embedded.Open(embedded.Options{
		Name:           dc.Name,
		Dir:            filepath.Join(s.opts.storagePath, "embedded", dc.Name),
		Retention:      time.Duration(dc.Retention),
		SeriesFiles:    dc.SeriesFiles,
		ScrapeInterval: time.Duration(dc.ScrapeInterval),
		Gatherer:       s.opts.gatherer,
		Registerer:     s.opts.registerer,
		SelfLabels:     s.opts.selfLabels,
		// Subqueries without a step use the evaluation interval, as in Prometheus.
		EvaluationInterval: time.Duration(evaluationInterval),
		Logger:             s.opts.logger.With("component", "embedded", "datasource", dc.Name),
	})
	if err != nil {
		return nil, fmt.Errorf("datasource %q: %w", dc.Name, err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	re := &runningEmbedded{db: db, cfg: dc, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(re.done); db.Run(ctx) }()
	s.embedded[dc.Name] = re
	return db, nil
}

// close stops and closes the embedded datasources, and closes the
// remote-write queues, each sending what it holds for remoteFlushTimeout.
func (s *sources) close() {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range s.pending {
		rr.q.Close(closedContext())
	}
	for _, rr := range s.remote {
		s.flushing.Go(func() { flushRemote(rr.q) })
	}
	s.flushing.Wait()
	for name, re := range s.embedded {
		if err := re.stop(); err != nil {
			s.opts.logger.Error("Closing an embedded datasource failed", "datasource", name, "err", err)
		}
	}
}

// fingerprint identifies a datasource's settings, so that groups using a
// changed datasource are restarted with a new client.
func fingerprint(dc config.Datasource) string {
	node, _ := yaml.Marshal(&dc.HTTPConfigNode)
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%v|%d|%s|%s|%s", dc.Type, dc.URL, dc.Timeout, dc.MaxResponseSize, node, dc.ExternalURL, dc.SourceURL))
	return hex.EncodeToString(sum[:8])
}
