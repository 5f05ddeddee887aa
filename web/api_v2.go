package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

// Alertmanager API v2 (api/v2/openapi.yaml of the alertmanager module):
// the subset that amtool, Prometheus' alert sender, Grafana and karma use.

// Routing gives the API the alert store and the current dispatcher (nil
// when no route is configured).
type Routing interface {
	Store() *dispatch.Store
	Dispatcher() *dispatch.Dispatcher
	// ConfigYAML is the Alertmanager part of the configuration, with
	// secrets hidden, as /api/v2/status shows it.
	ConfigYAML() string
	// ReceiverNames lists the configured receivers.
	ReceiverNames() []string
}

type labelMap = map[model.LabelName]model.LabelValue

// postableAlert is decoded into plain maps: model.LabelSet's own decoder
// would judge names by a global setting, and Validate does that job.
type postableAlert struct {
	Labels       labelMap  `json:"labels"`
	Annotations  labelMap  `json:"annotations"`
	StartsAt     time.Time `json:"startsAt"`
	EndsAt       time.Time `json:"endsAt"`
	GeneratorURL string    `json:"generatorURL"`
}

type receiverRef struct {
	Name string `json:"name"`
}

type alertStatus struct {
	State       string   `json:"state"`
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
	MutedBy     []string `json:"mutedBy"`
}

type gettableAlert struct {
	Labels       model.LabelSet `json:"labels"`
	Annotations  model.LabelSet `json:"annotations"`
	Receivers    []receiverRef  `json:"receivers"`
	Fingerprint  string         `json:"fingerprint"`
	StartsAt     time.Time      `json:"startsAt"`
	UpdatedAt    time.Time      `json:"updatedAt"`
	EndsAt       time.Time      `json:"endsAt"`
	GeneratorURL string         `json:"generatorURL,omitempty"`
	Status       alertStatus    `json:"status"`
}

type alertGroup struct {
	Labels      model.LabelSet  `json:"labels"`
	RouteLabels model.LabelSet  `json:"routeLabels"`
	Receiver    receiverRef     `json:"receiver"`
	Alerts      []gettableAlert `json:"alerts"`
}

// maxAlertsBody caps a POST /api/v2/alerts body; Prometheus sends at most
// a few hundred alerts per request.
const maxAlertsBody = 8 << 20

// maxConcurrentAlertPosts bounds the POST /api/v2/alerts bodies read and
// decoded at once.
const maxConcurrentAlertPosts = 2

func (h *handler) postAlerts(w http.ResponseWriter, r *http.Request) {
	// Decoding from one reused buffer allocates less than a json.Decoder
	// refilling its own.
	buf, _ := h.bodies.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= 1<<20 { // do not keep what a rare huge request grew
			buf.Reset()
			h.bodies.Put(buf)
		}
	}()
	if err := readJSONBody(r, buf); err != nil {
		apiError(w, bodyErrorStatus(err), err)
		return
	}
	// Few bodies are decoded at a time: each can be maxAlertsBody and
	// decodes to many times that, so that concurrent floods queue rather
	// than add up. Reading bodies is not held up by slow senders.
	select {
	case h.alertPosts <- struct{}{}:
		defer func() { <-h.alertPosts }()
	case <-r.Context().Done():
		return
	}
	var in []postableAlert
	if err := decodeJSON(buf.Bytes(), &in, false); err != nil {
		apiError(w, bodyErrorStatus(err), err)
		return
	}
	if in == nil {
		apiError(w, http.StatusBadRequest, errors.New("invalid JSON body: expected an array of alerts, got null"))
		return
	}
	alerts := make([]*dispatch.Alert, len(in))
	var errs []error
	for i, p := range in {
		// As Alertmanager's API: a label with an empty value is no label.
		for ln, lv := range p.Labels {
			if lv == "" {
				delete(p.Labels, ln)
			}
		}
		a := &dispatch.Alert{
			Labels: model.LabelSet(p.Labels), Annotations: model.LabelSet(p.Annotations),
			StartsAt: p.StartsAt, EndsAt: p.EndsAt, GeneratorURL: p.GeneratorURL,
		}
		if err := a.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("alert %d (%s): %w", i, a.Labels, err))
		} else if err := h.classicNames(a.Labels); err != nil {
			errs = append(errs, fmt.Errorf("alert %d (%s): %w", i, a.Labels, err))
		}
		alerts[i] = a
	}
	if len(errs) > 0 {
		// Unlike Alertmanager, store nothing: a sender that gets a 400
		// would otherwise not know which alerts arrived.
		apiError(w, http.StatusBadRequest, errors.Join(errs...))
		return
	}
	if err := h.opts.Routing.Store().Put(alerts); err != nil {
		// The others were stored; a sender that retries later sends
		// them again, which is harmless.
		apiError(w, http.StatusTooManyRequests, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// classicNames refuses the label names the matcher syntax does not allow
// (in classic mode, names beyond [a-zA-Z_][a-zA-Z0-9_]*).
func (h *handler) classicNames(ls model.LabelSet) error {
	for ln := range ls {
		if !h.opts.MatcherSyntax.ValidLabelName(string(ln)) {
			return fmt.Errorf("invalid label name %q in classic mode", ln)
		}
	}
	return nil
}

// alertFilter holds the query parameters of GET /alerts and /alerts/groups.
type alertFilter struct {
	matchers                                 labels.Matchers
	active, silenced, inhibited, unprocessed bool
	receiver                                 *regexp.Regexp
}

func parseAlertFilter(syn config.MatcherSyntax, r *http.Request) (*alertFilter, error) {
	q := r.URL.Query()
	f := &alertFilter{active: true, silenced: true, inhibited: true, unprocessed: true}
	for _, p := range []struct {
		name string
		dst  *bool
	}{{"active", &f.active}, {"silenced", &f.silenced}, {"inhibited", &f.inhibited}, {"unprocessed", &f.unprocessed}} {
		if v := q.Get(p.name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("parameter %s: %q is not a boolean", p.name, v)
			}
			*p.dst = b
		}
	}
	ms, err := parseFilter(syn, q["filter"])
	if err != nil {
		return nil, err
	}
	f.matchers = ms
	if v := q.Get("receiver"); v != "" {
		re, err := regexp.Compile("^(?:" + v + ")$")
		if err != nil {
			return nil, fmt.Errorf("parameter receiver: %w", err)
		}
		f.receiver = re
	}
	return f, nil
}

// parseFilter parses filter parameters as Alertmanager's API does, in the
// matcher syntax of its feature flags.
func parseFilter(syn config.MatcherSyntax, filters []string) (labels.Matchers, error) {
	var ms labels.Matchers
	for _, s := range filters {
		m, err := syn.ParseMatcher(s)
		if err != nil {
			return nil, fmt.Errorf("bad matcher %q in filter: %w", s, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// view builds the API form of a, or reports that the filter excludes it.
func (h *handler) alertView(a *dispatch.Alert, d *dispatch.Dispatcher, f *alertFilter, now time.Time) (gettableAlert, bool) {
	if a.ResolvedAt(now) || !f.matchers.Matches(a.Labels) {
		return gettableAlert{}, false
	}
	g := gettableAlert{
		Labels: a.Labels, Annotations: a.Annotations, Fingerprint: a.Fingerprint().String(),
		StartsAt: a.StartsAt, UpdatedAt: a.UpdatedAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL,
		Receivers: []receiverRef{},
		Status:    alertStatus{State: "active", SilencedBy: []string{}, InhibitedBy: []string{}, MutedBy: []string{}},
	}
	if g.Annotations == nil {
		g.Annotations = model.LabelSet{}
	}
	if d != nil {
		for _, name := range d.Receivers(a.Labels) {
			g.Receivers = append(g.Receivers, receiverRef{Name: name})
		}
		if fp, ok := d.Inhibited(a.Labels); ok {
			g.Status.InhibitedBy = []string{fp.String()}
		}
	}
	if f.receiver != nil && !slicesAny(g.Receivers, func(r receiverRef) bool { return f.receiver.MatchString(r.Name) }) {
		return gettableAlert{}, false
	}
	if h.opts.Silences != nil {
		if ids := h.opts.Silences.Mutes(a.Labels); len(ids) > 0 {
			g.Status.SilencedBy = ids
		}
	}
	if len(g.Status.SilencedBy) > 0 || len(g.Status.InhibitedBy) > 0 {
		g.Status.State = "suppressed"
	}
	switch {
	case !f.active && g.Status.State == "active",
		!f.silenced && len(g.Status.SilencedBy) > 0,
		!f.inhibited && len(g.Status.InhibitedBy) > 0:
		return gettableAlert{}, false
	}
	return g, true
}

func slicesAny[T any](s []T, f func(T) bool) bool {
	for _, x := range s {
		if f(x) {
			return true
		}
	}
	return false
}

func (h *handler) getAlerts(w http.ResponseWriter, r *http.Request) {
	f, err := parseAlertFilter(h.opts.MatcherSyntax, r)
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	d := h.opts.Routing.Dispatcher()
	now := time.Now()
	out := []gettableAlert{}
	h.opts.Routing.Store().List(func(a *dispatch.Alert) bool {
		if g, ok := h.alertView(a, d, f, now); ok {
			out = append(out, g)
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) getAlertGroups(w http.ResponseWriter, r *http.Request) {
	f, err := parseAlertFilter(h.opts.MatcherSyntax, r)
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	out := []alertGroup{}
	d := h.opts.Routing.Dispatcher()
	if d == nil {
		writeJSON(w, http.StatusOK, out)
		return
	}
	now := time.Now()
	for _, g := range d.Groups() {
		if f.receiver != nil && !f.receiver.MatchString(g.Receiver) {
			continue
		}
		ag := alertGroup{Labels: g.Labels, RouteLabels: model.LabelSet{}, Receiver: receiverRef{Name: g.Receiver}}
		gf := *f
		gf.receiver = nil // the group's receiver decided already
		for _, a := range g.Alerts {
			if v, ok := h.alertView(a, d, &gf, now); ok {
				ag.Alerts = append(ag.Alerts, v)
			}
		}
		if len(ag.Alerts) > 0 {
			out = append(out, ag)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type statusJSON struct {
	Cluster struct {
		Name   string `json:"name,omitempty"`
		Status string `json:"status"`
		Peers  []Peer `json:"peers"`
	} `json:"cluster"`
	VersionInfo map[string]string `json:"versionInfo"`
	Config      struct {
		Original string `json:"original"`
	} `json:"config"`
	Uptime time.Time `json:"uptime"`
}

func (h *handler) getStatus(w http.ResponseWriter, r *http.Request) {
	var s statusJSON
	s.Cluster.Status = "disabled"
	s.Cluster.Peers = []Peer{}
	if h.opts.Cluster != nil {
		// As Alertmanager: "ready" with the peers, "settling" when they
		// cannot be read now.
		name, peers, err := h.opts.Cluster(r.Context())
		s.Cluster.Name, s.Cluster.Status = name, "ready"
		if err != nil {
			s.Cluster.Status = "settling"
			h.opts.Logger.Warn("Reading the replicas failed", "err", err)
		} else {
			s.Cluster.Peers = peers
		}
	}
	s.VersionInfo = map[string]string{
		"version": h.opts.Version, "revision": h.opts.Revision, "branch": "", "buildUser": "",
		"buildDate": "", "goVersion": h.opts.GoVersion,
	}
	s.Config.Original = h.opts.Routing.ConfigYAML()
	s.Uptime = h.opts.StartTime
	writeJSON(w, http.StatusOK, s)
}

func (h *handler) getReceivers(w http.ResponseWriter, _ *http.Request) {
	out := []receiverRef{}
	for _, n := range h.opts.Routing.ReceiverNames() {
		out = append(out, receiverRef{Name: n})
	}
	writeJSON(w, http.StatusOK, out)
}

// apiError answers with a JSON string holding the message, as
// Alertmanager's API does for 4xx and 5xx answers.
func apiError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, err.Error())
}

// bodyStatus is 413 for a body over the limit, 400 for other read errors.
func bodyStatus(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}
