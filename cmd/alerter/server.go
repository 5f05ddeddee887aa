package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/storage"
	alerterweb "github.com/alerter/alerter/web"
)

// silenceSyncInterval is how often silences are read back from the
// database: on PostgreSQL, which other processes may share, twice a second,
// so that a silence made on one applies on all within a second; never on
// the SQLite file, which one process holds.
func silenceSyncInterval(storageURL string) time.Duration {
	if storageURL == "" {
		return 0
	}
	return 500 * time.Millisecond
}

// settleDelay is how long a replica sharing a database holds its first
// notifications after it starts, as an Alertmanager waits for its gossip
// to settle: long enough for the alerts the others received before it
// started to be written (every second) and read here (every half
// second), so that it does not notify from a view older than theirs.
func settleDelay(storageURL string) time.Duration {
	if storageURL == "" {
		return 0
	}
	return 3 * time.Second
}

// serverFlags are the flags of `alerter run`.
type serverFlags struct {
	configFile    string
	listenAddress string
	storagePath   string
	// storageURL names a PostgreSQL database for the state instead of
	// the SQLite one under storagePath.
	storageURL    string
	externalURL   string
	webConfigFile string
	logLevel      string
	logFormat     string
	dataRetention time.Duration
	// maintenance is how often expired data is deleted; 0: derived
	// from dataRetention.
	maintenance time.Duration
	limits      routingLimits

	// Alertmanager's flags, so that its unit files start alerter.
	startDelay  time.Duration
	features    string
	routePrefix string
	corsOrigin  string
	alertsGC    time.Duration
	// ignored are the flags given that alerter accepts and ignores.
	ignored []string
	// Derived from the flags above.
	syntax          config.MatcherSyntax
	cors            *regexp.Regexp
	unknownFeatures []string
}

// ignoredFlags are Alertmanager flags that alerter accepts and ignores, so
// that an Alertmanager unit file starts it: gossip clustering (alerter's
// replicas share PostgreSQL instead) and tuning knobs with no counterpart.
var ignoredFlags = []string{
	"cluster.listen-address", "cluster.advertise-address", "cluster.peer", "cluster.peer-name",
	"cluster.peer-timeout", "cluster.peers-resolve-timeout", "cluster.gossip-interval",
	"cluster.pushpull-interval", "cluster.tcp-timeout", "cluster.probe-timeout", "cluster.probe-interval",
	"cluster.settle-timeout", "cluster.reconnect-interval", "cluster.reconnect-timeout", "cluster.tls-config",
	"cluster.label", "web.get-concurrency", "web.timeout", "dispatch.maintenance-interval",
	"silences.max-silences", "silences.max-silence-size-bytes", "auto-gomemlimit.ratio",
}

// ignoredBoolFlags are ignored flags that take no value.
var ignoredBoolFlags = []string{"cluster.allow-insecure-public-advertise-address-discovery", "auto-gomemlimit", "log.silences"}

// ignoredFlag is a flag that records that it was given.
type ignoredFlag struct {
	name    string
	given   *[]string
	boolean bool
}

func (f ignoredFlag) String() string { return "" }

func (f ignoredFlag) Set(string) error {
	if !slices.Contains(*f.given, f.name) {
		*f.given = append(*f.given, f.name)
	}
	return nil
}

func (f ignoredFlag) IsBoolFlag() bool { return f.boolean }

// parseServerFlags parses the flags of `alerter run`; when done is set the
// command ends with code (--help, or a usage error).
func parseServerFlags(args []string, stdout, stderr io.Writer) (f serverFlags, code int, done bool) {
	fs := newFlags("alerter run", "alerter [run] [flags]",
		"Runs the server: evaluates the configuration's rules, routes their alerts and those posted to\n"+
			"/api/v2/alerts, and serves the web UI and the APIs. SIGHUP or POST /-/reload reloads the configuration.")
	fs.StringVar(&f.configFile, "config.file", "alerter.yml", "alerter configuration file")
	fs.StringVar(&f.listenAddress, "web.listen-address", ":9095", "address to serve the UI and API on")
	fs.StringVar(&f.storagePath, "storage.path", "data/", "folder for alerter's state (alert states, silences, notification log)")
	fs.StringVar(&f.storageURL, "storage.url", "", "postgres://user@host/db?... : keep the state (alert states, silences, notification log, history) in this PostgreSQL database instead of under --storage.path (a password in the URL or from PGPASSFILE, never logged)")
	fs.StringVar(&f.externalURL, "web.external-url", "", "URL under which users reach alerter (links in notifications; its path prefixes every endpoint)")
	fs.StringVar(&f.webConfigFile, "web.config.file", "", "exporter-toolkit web configuration file (TLS and basic auth)")
	fs.StringVar(&f.logLevel, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.logFormat, "log.format", "logfmt", "log format: logfmt or json")
	fs.DurationVar(&f.dataRetention, "data.retention", 120*time.Hour, "how long expired silences and notification log entries, and the notification history, are kept")
	fs.IntVar(&f.limits.store.Alerts, "alerts.limit", 200000, "most alerts kept (resolved ones until collected); new alerts beyond it are refused and counted; 0: no limit")
	fs.IntVar(&f.limits.store.PerAlertName, "alerts.per-alertname-limit", 0, "most alerts kept per alertname, as in Alertmanager; 0: no limit")
	fs.IntVar(&f.limits.groups, "dispatch.max-number-of-aggregation-groups", 0, "most aggregation groups; alerts that would make more are not notified and are counted; 0: no limit")
	fs.IntVar(&f.limits.perGroup, "dispatch.max-alerts-per-aggregation-group", 0, "most alerts in one aggregation group; 0: no limit")
	fs.DurationVar(&f.startDelay, "dispatch.start-delay", 0, "hold the first notification of every group until this long after the start, so that senders re-send their alerts first (set it to their resend delay)")
	fs.StringVar(&f.features, "enable-feature", "", "Alertmanager's features: classic-mode (the matcher syntax and label names of Alertmanager <= 0.26) or utf8-strict-mode")
	fs.StringVar(&f.routePrefix, "web.route-prefix", "", "prefix the endpoints are served under (default: the path of --web.external-url)")
	fs.StringVar(&f.corsOrigin, "web.cors.origin", "", "regular expression, fully anchored, of the origins whose pages may call the API (CORS)")
	fs.DurationVar(&f.alertsGC, "alerts.gc-interval", time.Minute, "how often resolved alerts are dropped from the alert store")
	for _, name := range ignoredFlags {
		fs.Var(ignoredFlag{name: name, given: &f.ignored}, name, ignoredUsage+", and ignored")
	}
	for _, name := range ignoredBoolFlags {
		fs.Var(ignoredFlag{name: name, given: &f.ignored, boolean: true}, name, ignoredUsage+", and ignored")
	}
	fs.DurationVar(&f.maintenance, "data.maintenance-interval", 0, "how often expired silences, notification log entries and history are deleted (0: a tenth of --data.retention, at most 15m)")
	rest, code, done := fs.parse(args, stdout, stderr)
	if done {
		return f, code, true
	}
	if len(rest) > 0 {
		return f, fs.usageError(stderr, "unexpected argument %q", rest[0]), true
	}
	var features []string
	for _, s := range strings.Split(f.features, ",") {
		switch s = strings.TrimSpace(s); s {
		case "":
		case "classic-mode", "utf8-strict-mode":
			features = append(features, s)
		default:
			f.unknownFeatures = append(f.unknownFeatures, s)
		}
	}
	var err error
	if f.syntax, err = config.ParseMatcherSyntax(features); err != nil {
		return f, fs.usageError(stderr, "--enable-feature: %v", err), true
	}
	if f.corsOrigin != "" {
		if f.cors, err = regexp.Compile("^(?:" + f.corsOrigin + ")$"); err != nil {
			return f, fs.usageError(stderr, "--web.cors.origin: %v", err), true
		}
	}
	return f, 0, false
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log.level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "logfmt":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("invalid --log.format %q: want logfmt or json", format)
	}
}

// runServer runs alerter until ctx ends or it fails to start.
func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags, code, done := parseServerFlags(args, stdout, stderr)
	if done {
		return code
	}
	logger, err := newLogger(stderr, flags.logLevel, flags.logFormat)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if err := serve(ctx, flags, logger); err != nil {
		if ctx.Err() != nil {
			// SIGTERM or SIGINT during start-up: a clean stop, not a
			// failure (whatever it interrupted says context canceled).
			logger.Info("Stopped during start-up", "interrupted", err)
			return exitOK
		}
		// Plain lines, one problem each: easier to read than one escaped log field.
		fmt.Fprintf(stderr, "alerter: %s\n", err)
		return exitProblems
	}
	return exitOK
}

// serve wires alerter's parts and runs them until ctx ends. Ownership:
// the storage, registry, embedded datasources and rule manager live as
// long as the process; the config, rule files and query clients are
// replaced on each reload.
func serve(ctx context.Context, flags serverFlags, logger *slog.Logger) error {
	first, _, err := loadFrugally(flags.configFile)
	if err != nil {
		return fmt.Errorf("load configuration:\n%w", err)
	}
	if flags.webConfigFile != "" {
		if err := web.Validate(flags.webConfigFile); err != nil {
			return fmt.Errorf("--web.config.file %s: %w", flags.webConfigFile, err)
		}
	}
	if len(flags.ignored) > 0 {
		logger.Warn("Alertmanager flags are accepted and ignored: alerter has no gossip cluster (replicas share their state in a database) and no counterpart to the others",
			"flags", strings.Join(flags.ignored, ","))
	}
	if len(flags.unknownFeatures) > 0 {
		logger.Warn("Unknown features of --enable-feature are ignored", "features", strings.Join(flags.unknownFeatures, ","))
	}
	extURL, err := externalURL(flags.externalURL, first.cfg.Global.ExternalURL, flags.listenAddress)
	if err != nil {
		return err
	}
	if flags.storageURL == "" {
		flags.storageURL = first.cfg.Storage.URL
	}
	target := flags.storagePath
	if flags.storageURL != "" {
		if !storage.IsURL(flags.storageURL) {
			return fmt.Errorf("--storage.url: want a postgres:// or postgresql:// URL")
		}
		if pf := first.cfg.Storage.PasswordFile; pf != "" {
			if flags.storageURL, err = withPassword(flags.storageURL, pf); err != nil {
				return err
			}
		}
		target = flags.storageURL
	}
	db, err := storage.Open(ctx, target)
	if err != nil {
		return err
	}
	defer db.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(db.Collectors()...)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "alerter_build_info", Help: "Always 1; the labels say which alerter runs.",
		ConstLabels: prometheus.Labels{"version": version(), "revision": revision(), "goversion": runtime.Version()},
	}, func() float64 { return 1 }))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sources := newSources(runCtx, sourcesOptions{
		storagePath: flags.storagePath, gatherer: reg, registerer: reg, logger: logger,
		selfLabels: map[string]string{"job": "alerter", "instance": instanceName(flags.listenAddress)},
	})
	defer sources.close()

	// On a shared database, this replica announces itself, divides the
	// rule groups with the others, and claims each notification.
	var m *membership
	if flags.storageURL != "" {
		m = newMembership(db, extURL.Host, logger.With("component", "cluster"), reg)
	}
	rt, err := newRouting(ctx, routingOptions{
		db: db, data: dataLifetime{flags.dataRetention, flags.maintenance}, limits: flags.limits,
		holdUntil: time.Now().Add(max(flags.startDelay, settleDelay(flags.storageURL))), alertsGC: flags.alertsGC,
		silenceSync: silenceSyncInterval(flags.storageURL), shared: flags.storageURL != "",
		reg: reg, logger: logger.With("component", "dispatch"),
	})
	if err != nil {
		return err
	}
	defer rt.stop()
	var ownership evaluator.Ownership
	if m != nil {
		rt.share(db, m.self.ID, m.Prefers, reg)
		ownership = m
	}
	manager := evaluator.NewManager(evaluator.Options{
		Store:     db.AlertStates(),
		Sink:      rt,
		Metrics:   evaluator.NewMetrics(reg),
		Logger:    logger.With("component", "evaluator"),
		Ownership: ownership,
		// The rules' state changes start the alerts' timelines.
		OnTransition: rt.transition,
	})
	reg.MustRegister(alertsCollector{manager})
	bt := &backtester{silences: rt.silences}
	r := newReloader(reloaderOptions{
		configFile: flags.configFile, externalURLFlag: flags.externalURL, listenAddress: flags.listenAddress,
		manager: manager, routing: rt, sources: sources, logger: logger, registerer: reg, backtester: bt,
	})

	var clusterFn func(context.Context) (string, []alerterweb.Peer, error)
	joined := func() bool { return true }
	if m != nil {
		m.groups = manager.GroupKeys
		clusterFn, joined = m.cluster, m.ready
		var wg sync.WaitGroup
		defer wg.Wait()
		heartbeatCtx, stopHeartbeat := context.WithCancel(ctx)
		defer stopHeartbeat()
		wg.Go(func() { m.run(heartbeatCtx) })
	}

	var ready atomic.Bool
	handler := alerterweb.New(alerterweb.Options{
		Rules: manager, Reload: r.reload, Ready: func() bool { return ready.Load() && joined() }, Gatherer: reg,
		ExternalURL: extURL, Version: version(), Revision: revision(), Logger: logger.With("component", "web"),
		Routing: rt, Silences: rt.silences, GoVersion: runtime.Version(), StartTime: time.Now(),
		Notifications: historyView{rt.history}, Events: eventsView{rt.events}, TestReceiver: rt.testReceiver, Backtest: bt.run,
		MatcherSyntax: flags.syntax, RoutePrefix: flags.routePrefix, CORSOrigin: flags.cors,
		Cluster: clusterFn,
	})
	srv, errc, err := listen(flags, handler, logger)
	if err != nil {
		return err
	}
	if err := r.apply(ctx, first); err != nil {
		_ = srv.Close()
		return err
	}
	if !first.cfg.HasRoute() {
		logger.Info("No route is configured: alerts are evaluated and shown, but not sent anywhere")
	}

	var wg sync.WaitGroup
	wg.Go(func() { manager.Run(runCtx) })
	wg.Go(func() { rt.run(runCtx) })
	wg.Go(func() { r.watchSignals(runCtx) })
	ready.Store(true)
	logger.Info("alerter is ready: the web UI is at "+extURL.String()+"/ and the alerts at "+extURL.String()+"/api/v1/alerts",
		"version", version(), "listen", flags.listenAddress)

	select {
	case <-ctx.Done():
		logger.Info("Shutting down")
	case err = <-errc:
		err = fmt.Errorf("web server: %w", err)
	}
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = srv.Shutdown(shutdownCtx)
	cancel()
	wg.Wait()
	return err
}

// withPassword returns the database URL rawURL with the password read
// from file, unless it has one.
func withPassword(rawURL, file string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", errors.New("storage URL: cannot be parsed")
	}
	if _, has := u.User.Password(); has {
		return rawURL, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("storage.password_file: %w", err)
	}
	user := "postgres"
	if u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, strings.TrimRight(string(b), "\r\n"))
	return u.String(), nil
}

// listen opens the listener (so that a port in use is a start-up error)
// and serves handler on it, with the web config's TLS and basic auth.
func listen(flags serverFlags, handler http.Handler, logger *slog.Logger) (*http.Server, <-chan error, error) {
	ln, err := net.Listen("tcp", flags.listenAddress)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s: %w", flags.listenAddress, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	systemd := false
	fc := &web.FlagConfig{
		WebListenAddresses: &[]string{flags.listenAddress},
		WebSystemdSocket:   &systemd,
		WebConfigFile:      &flags.webConfigFile,
	}
	errc := make(chan error, 1)
	go func() {
		if err := web.Serve(ln, srv, fc, logger.With("component", "web")); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	return srv, errc, nil
}

// externalURL picks the URL users reach alerter under: the flag, else the
// config's global.external_url, else one made from the host name and port.
func externalURL(flagValue, configValue, listenAddress string) (*url.URL, error) {
	s := flagValue
	if s == "" {
		s = configValue
	}
	if s == "" {
		s = "http://" + instanceName(listenAddress) + "/"
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("external URL %q must be an absolute http or https URL", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// instanceName returns host:port for a listen address, filling in the
// host name when the address has none.
func instanceName(listenAddress string) string {
	host, port, err := net.SplitHostPort(listenAddress)
	if err != nil {
		return listenAddress
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}

// watchSignals reloads on SIGHUP until ctx ends.
func (r *reloader) watchSignals(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = r.reload(ctx) // logged and counted by reload
		}
	}
}

// alertsCollector exposes alerter_alerts{state}, counted at scrape time.
type alertsCollector struct{ m *evaluator.Manager }

var alertsDesc = prometheus.NewDesc("alerter_alerts", "Alerts of alerting rules, by state (inactive: resolved, kept to be re-sent).", []string{"state"}, nil)

func (c alertsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- alertsDesc }

func (c alertsCollector) Collect(ch chan<- prometheus.Metric) {
	for state, n := range c.m.AlertCounts() {
		ch <- prometheus.MustNewConstMetric(alertsDesc, prometheus.GaugeValue, float64(n), state.String())
	}
}
