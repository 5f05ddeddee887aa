// Package web serves alerter's HTTP endpoints: the web UI, the
// Prometheus-compatible rule and alert API, Alertmanager's API v2,
// /metrics, and the lifecycle endpoints.
package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/alerter/alerter/backtest"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/evaluator"
)

// RuleSource gives read access to the rule groups and their alerts.
type RuleSource interface {
	Groups() []evaluator.GroupStatus
}

// Peer is a replica sharing the database, as /api/v2/status lists it.
type Peer struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// For the status page: when it started and was last heard from
	// (its clock), whether it is this process, and the rule groups
	// whose lease it holds.
	StartedAt time.Time `json:"-"`
	SeenAt    time.Time `json:"-"`
	Self      bool      `json:"-"`
	Groups    []string  `json:"-"`
}

// Options configure the handler.
type Options struct {
	Rules RuleSource
	// Reload reloads the configuration; its error is shown to the caller.
	Reload func(ctx context.Context) error
	// Ready reports whether start-up has finished.
	Ready    func() bool
	Gatherer prometheus.Gatherer
	// ExternalURL's path, if any, is the prefix every endpoint is served
	// under, and links in pages use it.
	ExternalURL *url.URL
	// RoutePrefix, if set, is the prefix endpoints are served under instead
	// (Alertmanager's --web.route-prefix: a proxy in front strips the
	// external URL's path); links still use the external URL's.
	RoutePrefix string
	// CORSOrigin, if set, matches the origins (whole: scheme, host and
	// port) whose pages may call the API: they get CORS headers, and their
	// state-changing requests pass (Alertmanager's --web.cors.origin).
	CORSOrigin *regexp.Regexp
	Version    string
	Logger     *slog.Logger

	// Routing and Silences serve Alertmanager's API v2; without them it
	// is not served.
	Routing   Routing
	Silences  SilenceStore
	Revision  string
	GoVersion string
	StartTime time.Time
	// Cluster, if set, names this replica and lists the live replicas
	// sharing its database, for /api/v2/status; nil: no cluster.
	Cluster func(ctx context.Context) (self string, peers []Peer, err error)

	// MatcherSyntax is how typed matchers (filters, silences) are parsed
	// and which label names alerts and silences may have.
	MatcherSyntax config.MatcherSyntax

	// Notifications serves GET /api/v1/notifications; nil: not served.
	Notifications NotificationHistory
	// Events serves GET /api/v1/alerts/timeline and the timeline pages;
	// nil: not served.
	Events AlertEvents
	// TestReceiver sends a test notification to every integration of the
	// named receiver (an error wrapping ErrNotFound if there is no such
	// receiver). It serves POST /api/v1/receivers/{name}/test; nil: not
	// served.
	TestReceiver func(ctx context.Context, name string) ([]ReceiverTestResult, error)
	// Backtest replays the running configuration over a past range (an
	// error wrapping backtest.ErrInvalid for bad input, ErrBacktestBusy
	// while one runs). It serves POST /api/v1/backtest; nil: not served.
	Backtest func(ctx context.Context, req BacktestRequest) (*backtest.Report, error)
}

// maxRequestBody caps what any endpoint reads from a request.
const maxRequestBody = 1 << 20

// New returns the HTTP handler of alerter.
func New(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{opts: opts, alertPosts: make(chan struct{}, maxConcurrentAlertPosts)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/rules", h.rules)
	mux.HandleFunc("GET /api/v1/alerts", h.alerts)
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slogErrorLog{opts.Logger}}))
	mux.HandleFunc("GET /-/healthy", h.healthy)
	mux.HandleFunc("HEAD /-/healthy", h.healthy)
	mux.HandleFunc("GET /-/ready", h.ready)
	mux.HandleFunc("HEAD /-/ready", h.ready)
	mux.HandleFunc("POST /-/reload", h.reload)
	mux.HandleFunc("PUT /-/reload", h.reload)
	if opts.Routing != nil && opts.Silences != nil {
		mux.HandleFunc("GET /api/v2/status", h.getStatus)
		mux.HandleFunc("GET /api/v2/receivers", h.getReceivers)
		mux.HandleFunc("GET /api/v2/alerts", h.getAlerts)
		mux.HandleFunc("POST /api/v2/alerts", h.postAlerts)
		mux.HandleFunc("GET /api/v2/alerts/groups", h.getAlertGroups)
		mux.HandleFunc("GET /api/v2/silences", h.getSilences)
		mux.HandleFunc("POST /api/v2/silences", h.postSilence)
		mux.HandleFunc("GET /api/v2/silence/{id}", h.getSilence)
		mux.HandleFunc("DELETE /api/v2/silence/{id}", h.deleteSilence)
		// Alertmanager's API v1, removed in its 0.27 (GET /api/v1/alerts
		// is Prometheus' here).
		for _, p := range []string{"GET /api/v1/status", "GET /api/v1/receivers", "POST /api/v1/alerts",
			"GET /api/v1/silences", "POST /api/v1/silences", "GET /api/v1/silence/{id}", "DELETE /api/v1/silence/{id}"} {
			mux.HandleFunc(p, h.v1Gone)
		}
	}
	if opts.Notifications != nil {
		mux.HandleFunc("GET /api/v1/notifications", h.notifications)
	}
	if opts.Events != nil {
		mux.HandleFunc("GET /api/v1/alerts/timeline", h.alertTimeline)
	}
	if opts.TestReceiver != nil {
		mux.HandleFunc("POST /api/v1/receivers/{name}/test", h.testReceiver)
	}
	if opts.Backtest != nil {
		mux.HandleFunc("POST /api/v1/backtest", h.backtest)
	}
	h.ui = h.registerUI(mux) // the web UI: ui*.go
	// Profiles, as Prometheus and Alertmanager serve them.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)

	var root http.Handler = mux
	p := prefix(opts.ExternalURL)
	if opts.RoutePrefix != "" {
		p = strings.TrimRight(opts.RoutePrefix, "/")
	}
	if p != "" {
		outer := http.NewServeMux()
		outer.Handle(p+"/", http.StripPrefix(p, mux))
		outer.Handle("GET /{$}", http.RedirectHandler(p+"/", http.StatusFound))
		root = outer
	}
	return limitBody(h.crossOrigin(root))
}

// crossOrigin refuses every state-changing request (POST, PUT, DELETE, ...)
// that a browser sends from another site: a form or script on another
// origin must not create silences, post alerts, reload or send test
// notifications with the user's cached credentials. Requests without the
// browser's Sec-Fetch-Site and Origin headers (amtool, Prometheus, curl)
// pass, as do browsers on alerter's own pages and on the external URL's
// origin.
func (h *handler) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	if ext := h.opts.ExternalURL; ext != nil && ext.Scheme != "" && ext.Host != "" {
		// Behind a proxy the Host header may differ from the name users
		// type; their browser's Origin is then the external URL's.
		_ = cop.AddTrustedOrigin(ext.Scheme + "://" + ext.Host)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && h.opts.CORSOrigin != nil && h.opts.CORSOrigin.MatchString(o) {
			hd := w.Header()
			hd.Set("Access-Control-Allow-Origin", o)
			hd.Set("Access-Control-Allow-Headers", "Accept, Authorization, Content-Type, Origin")
			hd.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			hd.Set("Access-Control-Expose-Headers", "Date")
			hd.Add("Vary", "Origin")
			if r.Method == http.MethodOptions {
				return // the preflight
			}
			next.ServeHTTP(w, r)
			return
		}
		if err := cop.Check(r); err != nil {
			msg := fmt.Errorf("cross-site request refused (%v): send it from alerter's own pages, or without a browser", err)
			if isUIPath(r.URL.Path) {
				h.ui.fail(w, r, http.StatusForbidden, msg)
			} else {
				apiError(w, http.StatusForbidden, msg)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isUIPath reports whether p is a web UI page rather than an API or
// lifecycle endpoint.
func isUIPath(p string) bool {
	return !strings.Contains(p, "/api/") && !strings.Contains(p, "/-/")
}

// prefix returns the path under which alerter is served, without a
// trailing slash ("" for the root).
func prefix(u *url.URL) string {
	if u == nil {
		return ""
	}
	return strings.TrimRight(u.Path, "/")
}

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := int64(maxRequestBody)
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/api/v2/alerts") {
			limit = maxAlertsBody
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

type handler struct {
	opts Options
	ui   *ui
	// bodies holds request body buffers for reuse.
	bodies sync.Pool
	// alertPosts holds a token per alert post being decoded.
	alertPosts chan struct{}
}

func (h *handler) healthy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "alerter is Healthy.")
}

func (h *handler) ready(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if h.opts.Ready != nil && !h.opts.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "alerter is not ready.")
		return
	}
	fmt.Fprintln(w, "alerter is Ready.")
}

func (h *handler) reload(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := h.opts.Reload(r.Context()); err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "failed to reload config: %s\n", err)
		return
	}
	fmt.Fprintln(w, "config reloaded")
}

// v1Gone answers what Alertmanager 0.27 and later answer on its removed
// API v1.
func (h *handler) v1Gone(w http.ResponseWriter, r *http.Request) {
	h.opts.Logger.Debug("Alertmanager's API v1 was asked for; it is removed", "path", r.URL.Path, "method", r.Method)
	writeJSON(w, http.StatusGone, map[string]string{
		"status": "deprecated",
		"error":  "The Alertmanager v1 API was deprecated in version 0.16.0 and is removed as of version 0.27.0 - please use the equivalent route in the v2 API",
	})
}

// slogErrorLog lets promhttp log through slog.
type slogErrorLog struct{ l *slog.Logger }

func (s slogErrorLog) Println(v ...any) { s.l.Error(fmt.Sprint(v...)) }

// apiResponse is Prometheus' API envelope.
type apiResponse struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	writeJSON(w, http.StatusBadRequest, apiResponse{Status: "error", ErrorType: "bad_data", Error: fmt.Sprintf(format, args...)})
}
