package web

import (
	"encoding/binary"
	"hash/fnv"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	promlabels "github.com/prometheus/prometheus/model/labels"

	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/evaluator"
)

// Paging of the alerts page: a page holds groupsPerPage groups, each
// listing at most alertsPerGroup alerts (one line each), so that 10,000
// alerts stay a page a browser renders at once and a live update stays
// small.
const (
	groupsPerPage  = 50
	alertsPerGroup = 25
	// maxLineLabels is the most labels an alert's line shows; its page
	// shows them all.
	maxLineLabels = 5
	// maxLineLinks is the most URL annotations an alert's line links.
	maxLineLinks = 3
)

// uiAlert is one alert as a line of the alerts page shows it.
type uiAlert struct {
	Fingerprint string
	Name        string
	State       string // firing, pending, silenced, inhibited
	// Severity is a class: critical, warning, info or other.
	Severity string
	// Labels are those that tell the alert from the others of its group,
	// each a filter link.
	Labels   []uiLabel
	Summary  string
	Links    []pair // annotations that are http(s) URLs
	StartsAt time.Time
	// URL is the alert's page: details and timeline.
	URL string
	// SilenceURL opens the silence form with the alert's labels ticked.
	SilenceURL  string
	Silences    []uiSilenceRef
	InhibitedBy *uiInhibitor
	// NoSilence leaves the Silence link out (in a silence's preview).
	NoSilence bool
}

// uiLabel is a label with the filter links that keep (Include) or drop
// (Exclude) the alerts that have it.
type uiLabel struct {
	Name, Value      string
	Include, Exclude string
}

// uiSilenceRef is a silence muting an alert: who, why, until when.
type uiSilenceRef struct {
	ID, CreatedBy, Comment string
	EndsAt                 time.Time
}

// uiInhibitor names the alert that inhibits another.
type uiInhibitor struct {
	Name, Fingerprint string
	// URL is the inhibiting alert's page, if it is known.
	URL string
}

// uiGroup is one group of alerts on the alerts page.
type uiGroup struct {
	Labels   []pair
	Receiver string
	// SilenceURL opens the silence form with the labels all the group's
	// alerts share, the group labels ticked; FilterURL shows only them.
	SilenceURL, FilterURL      string
	Alerts                     []uiAlert
	Total, Silenced, Inhibited int
	Hidden                     int // alerts beyond alertsPerGroup
	Pending                    bool
	// Since is when the group's oldest alert started.
	Since         time.Time
	alerts        []*dispatch.Alert
	states        []string
	pendingAlerts []evaluator.Alert
	groupLabels   model.LabelSet
}

// uiMatcher is one matcher of the filter, with the link that drops it.
type uiMatcher struct {
	Text, Remove string
}

type alertsData struct {
	Filter, FilterError, GroupBy             string
	ShowSilenced, ShowInhibited, ShowPending bool
	Matchers                                 []uiMatcher
	Groups                                   []*uiGroup
	Page, Pages, TotalGroups                 int
	Active, Silenced, Inhibited, Pending     int
	Shown                                    int
	PrevURL, NextURL                         string
	NoRouting, RouteGroups                   bool
	SilenceURL                               string
	// LiveURL is this view's live part, which the page's script polls.
	LiveURL string
	// Rendered is when the page was made, for "updated N s ago".
	Rendered time.Time
	// Shared are the labels every alert on the page has (cluster="eu-1"):
	// shown once, not on each line.
	Shared  []uiLabel
	shared  model.LabelSet
	groupBy []model.LabelName
	links   filterLinks
}

// filterLinks builds the alerts page's links that add a matcher to the
// filter, keeping the other parameters.
type filterLinks struct {
	// base is the page's URL with its other parameters, ending in
	// "filter=".
	base string
	// current are the filter's matchers, as written.
	current []string
}

func (l *filterLinks) with(extra string) string {
	s := "{" + strings.Join(append(l.current[:len(l.current):len(l.current)], extra), ", ") + "}"
	return l.base + url.QueryEscape(s)
}

func (l *filterLinks) without(i int) string {
	rest := append(append([]string{}, l.current[:i]...), l.current[i+1:]...)
	if len(rest) == 0 {
		return strings.TrimSuffix(strings.TrimSuffix(l.base, "filter="), "&")
	}
	return l.base + url.QueryEscape("{"+strings.Join(rest, ", ")+"}")
}

// label returns a label with its filter links.
func (l *filterLinks) label(name, value string) uiLabel {
	return uiLabel{Name: name, Value: value,
		Include: l.with(matcherString(name, labels.MatchEqual, value)), Exclude: l.with(matcherString(name, labels.MatchNotEqual, value))}
}

// alertsQuery is the alerts page's view: what its query asks for.
func (u *ui) alertsQuery(r *http.Request) (*alertsData, labels.Matchers, error) {
	q := r.URL.Query()
	d := &alertsData{
		Filter: q.Get("filter"), GroupBy: strings.TrimSpace(q.Get("group_by")),
		ShowSilenced: q.Get("silenced") != "", ShowInhibited: q.Get("inhibited") != "", ShowPending: q.Get("pending") != "",
		Rendered: time.Now(),
	}
	for _, n := range strings.Split(d.GroupBy, ",") {
		if n = strings.TrimSpace(n); n != "" {
			d.groupBy = append(d.groupBy, model.LabelName(n))
		}
	}
	ms, err := parseMatcherExpr(u.h.opts.MatcherSyntax, d.Filter)
	if err != nil {
		return d, nil, err
	}
	params := url.Values{}
	if d.GroupBy != "" {
		params.Set("group_by", d.GroupBy)
	}
	for k, on := range map[string]bool{"silenced": d.ShowSilenced, "inhibited": d.ShowInhibited, "pending": d.ShowPending} {
		if on {
			params.Set(k, "1")
		}
	}
	d.links.base = u.url("/") + "?"
	if enc := params.Encode(); enc != "" {
		d.links.base += enc + "&"
	}
	d.links.base += "filter="
	for _, m := range ms {
		d.links.current = append(d.links.current, m.String())
	}
	for i, m := range d.links.current {
		d.Matchers = append(d.Matchers, uiMatcher{Text: m, Remove: d.links.without(i)})
	}
	return d, ms, nil
}

// alerts serves the alerts page: active alerts grouped by aggregation
// group (or by the labels in group_by), filtered by matchers, one line
// each. With live=1 it serves only the part the page's script replaces,
// or 304 when it has not changed since the ETag the script holds.
func (u *ui) alerts(w http.ResponseWriter, r *http.Request) {
	live := r.URL.Query().Get("live") != ""
	d, ms, err := u.alertsQuery(r)
	status := http.StatusOK
	if err != nil {
		d.FilterError, status = err.Error(), http.StatusBadRequest
	}
	if u.h.opts.Routing == nil {
		d.NoRouting = true
	} else if err == nil {
		u.collectAlerts(d, ms)
	}
	if err == nil && d.ShowPending {
		u.collectPending(d, ms)
	}
	d.TotalGroups = len(d.Groups)
	d.Pages = max(1, (d.TotalGroups+groupsPerPage-1)/groupsPerPage)
	d.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	d.Groups = d.Groups[(d.Page-1)*groupsPerPage : min(d.Page*groupsPerPage, d.TotalGroups)]
	link := func(page int) string {
		return d.links.base + url.QueryEscape(d.Filter) + "&page=" + strconv.Itoa(page)
	}
	if d.Page > 1 {
		d.PrevURL = link(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.NextURL = link(d.Page + 1)
	}
	d.findShared()
	silenceRefs := map[string]uiSilenceRef{}
	for _, g := range d.Groups {
		u.fillGroup(d, g, silenceRefs)
		d.Shown += len(g.Alerts)
	}
	if len(ms) > 0 {
		d.SilenceURL = withQuery(u.url("/silences/new"), map[string]string{"filter": ms.String()})
	}
	lq := r.URL.Query()
	lq.Set("live", "1")
	lq.Del("page")
	if d.Page > 1 {
		lq.Set("page", strconv.Itoa(d.Page))
	}
	d.LiveURL = u.url("/") + "?" + lq.Encode()
	if live {
		etag := `"` + d.version() + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		u.renderPart(w, r, status, "alerts", "live", d)
		return
	}
	u.render(w, r, status, "alerts", pageData{Title: "Alerts", Nav: "alerts", Data: d})
}

// version hashes what the live part shows, but for the ages (the page's
// script counts those): equal versions render the same.
func (d *alertsData) version() string {
	h := fnv.New64a()
	var buf [8]byte
	num := func(n int64) {
		binary.LittleEndian.PutUint64(buf[:], uint64(n))
		h.Write(buf[:])
	}
	str := func(s string) {
		num(int64(len(s)))
		h.Write([]byte(s))
	}
	for _, n := range []int{d.Page, d.Pages, d.TotalGroups, d.Active, d.Silenced, d.Inhibited, d.Pending} {
		num(int64(n))
	}
	str(d.FilterError)
	for _, l := range d.Shared {
		str(l.Name)
		str(l.Value)
	}
	for _, g := range d.Groups {
		str(g.Receiver)
		num(int64(g.Total))
		num(int64(g.Hidden))
		for _, p := range g.Labels {
			str(p.Name)
			str(p.Value)
		}
		for _, a := range g.Alerts {
			str(a.Fingerprint)
			str(a.State)
			str(a.Summary)
			num(a.StartsAt.UnixNano())
			for _, s := range a.Silences {
				str(s.ID)
				num(s.EndsAt.UnixNano())
			}
			if a.InhibitedBy != nil {
				str(a.InhibitedBy.Fingerprint)
			}
			for _, l := range a.Labels {
				str(l.Name)
				str(l.Value)
			}
		}
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// findShared finds the labels every routed alert on the page has, when
// there are several.
func (d *alertsData) findShared() {
	n := 0
	for _, g := range d.Groups {
		for _, a := range g.alerts {
			if n == 0 {
				d.shared = a.Labels.Clone()
			}
			n++
			for name, v := range d.shared {
				if a.Labels[name] != v {
					delete(d.shared, name)
				}
			}
		}
	}
	if n < 2 {
		d.shared = nil
		return
	}
	delete(d.shared, model.AlertNameLabel)
	for _, p := range sortedPairs(d.shared) {
		d.Shared = append(d.Shared, d.links.label(p.Name, p.Value))
	}
}

// alertState says whether an alert is silenced, inhibited or firing.
func (u *ui) alertState(a *dispatch.Alert, disp *dispatch.Dispatcher) string {
	if u.h.opts.Silences != nil && len(u.h.opts.Silences.Mutes(a.Labels)) > 0 {
		return "silenced"
	}
	if disp != nil {
		if _, ok := disp.Inhibited(a.Labels); ok {
			return "inhibited"
		}
	}
	return "firing"
}

// collectAlerts sorts the stored alerts that pass ms into groups,
// counting the silenced and inhibited ones whether shown or not.
func (u *ui) collectAlerts(d *alertsData, ms labels.Matchers) {
	rt := u.h.opts.Routing
	disp := rt.Dispatcher()
	now := time.Now()
	// state classifies an alert once (an alert may be in several route
	// groups) and counts it.
	states := map[model.Fingerprint]string{}
	state := func(a *dispatch.Alert) string {
		fp := a.Fingerprint()
		if s, ok := states[fp]; ok {
			return s
		}
		s := u.alertState(a, disp)
		states[fp] = s
		switch s {
		case "silenced":
			d.Silenced++
		case "inhibited":
			d.Inhibited++
		default:
			d.Active++
		}
		return s
	}
	shown := func(s string) bool {
		return s == "firing" || s == "silenced" && d.ShowSilenced || s == "inhibited" && d.ShowInhibited
	}
	add := func(g *uiGroup, a *dispatch.Alert, s string) {
		g.Total++
		switch s {
		case "silenced":
			g.Silenced++
		case "inhibited":
			g.Inhibited++
		}
		g.alerts = append(g.alerts, a)
		g.states = append(g.states, s)
	}
	keep := func(a *dispatch.Alert) bool { return !a.ResolvedAt(now) && ms.Matches(a.Labels) }
	if disp != nil && len(d.groupBy) == 0 {
		d.RouteGroups = true
		for _, gv := range disp.Groups() {
			g := &uiGroup{Receiver: gv.Receiver, groupLabels: gv.Labels}
			for _, a := range gv.Alerts {
				if !keep(a) {
					continue
				}
				if s := state(a); shown(s) {
					add(g, a, s)
				}
			}
			if len(g.alerts) > 0 {
				d.Groups = append(d.Groups, g)
			}
		}
		sortGroups(d.Groups)
		return
	}
	if len(d.groupBy) == 0 {
		d.groupBy = []model.LabelName{model.AlertNameLabel}
		d.GroupBy = string(model.AlertNameLabel)
	}
	byValues := map[string]*uiGroup{}
	rt.Store().List(func(a *dispatch.Alert) bool {
		if !keep(a) {
			return true
		}
		s := state(a)
		if !shown(s) {
			return true
		}
		var key strings.Builder
		for _, n := range d.groupBy {
			key.WriteString(string(a.Labels[n]))
			key.WriteByte(0xff)
		}
		g := byValues[key.String()]
		if g == nil {
			g = &uiGroup{groupLabels: model.LabelSet{}}
			for _, n := range d.groupBy {
				g.groupLabels[n] = a.Labels[n]
			}
			byValues[key.String()] = g
			d.Groups = append(d.Groups, g)
		}
		add(g, a, s)
		return true
	})
	sortGroups(d.Groups)
}

// sortGroups puts the groups with firing alerts first, then by labels.
func sortGroups(gs []*uiGroup) {
	sort.SliceStable(gs, func(i, j int) bool {
		fi, fj := gs[i].Total-gs[i].Silenced-gs[i].Inhibited > 0, gs[j].Total-gs[j].Silenced-gs[j].Inhibited > 0
		if fi != fj {
			return fi
		}
		if gs[i].Receiver != gs[j].Receiver {
			return gs[i].Receiver < gs[j].Receiver
		}
		return gs[i].groupLabels.Before(gs[j].groupLabels)
	})
}

// collectPending adds a group of the rules' pending alerts: they are not
// routed before they fire, but are worth seeing.
func (u *ui) collectPending(d *alertsData, ms labels.Matchers) {
	if u.h.opts.Rules == nil {
		return
	}
	g := &uiGroup{Pending: true, groupLabels: model.LabelSet{}}
	for _, gs := range u.h.opts.Rules.Groups() {
		for _, rs := range gs.Rules {
			for _, a := range rs.Alerts {
				if a.State != evaluator.StatePending || !ms.Matches(toLabelSet(a.Labels)) {
					continue
				}
				g.pendingAlerts = append(g.pendingAlerts, a)
				g.Total++
				d.Pending++
			}
		}
	}
	if g.Total > 0 {
		d.Groups = append([]*uiGroup{g}, d.Groups...)
	}
}

// fillGroup builds the lines of a group that is shown.
func (u *ui) fillGroup(d *alertsData, g *uiGroup, refs map[string]uiSilenceRef) {
	g.Labels = sortedPairs(g.groupLabels)
	if g.Pending {
		sort.Slice(g.pendingAlerts, func(i, j int) bool { return g.pendingAlerts[i].ActiveAt.After(g.pendingAlerts[j].ActiveAt) })
		for i, a := range g.pendingAlerts {
			if i == alertsPerGroup {
				g.Hidden = len(g.pendingAlerts) - i
				break
			}
			ls := toLabelSet(a.Labels)
			line := u.alertLine(d, ls, toLabelSet(a.Annotations), nil, "pending", a.ActiveAt)
			// Not routed yet: its rule tells more than an alert page.
			line.URL = u.url("/rules") + "?q=" + url.QueryEscape(line.Name)
			g.Alerts = append(g.Alerts, line)
		}
		return
	}
	idx := make([]int, len(g.alerts))
	for i := range idx {
		idx[i] = i
	}
	// Firing first, then the newest.
	rank := map[string]int{"firing": 0, "inhibited": 1, "silenced": 2}
	sort.SliceStable(idx, func(i, j int) bool {
		a, b := g.alerts[idx[i]], g.alerts[idx[j]]
		if ra, rb := rank[g.states[idx[i]]], rank[g.states[idx[j]]]; ra != rb {
			return ra < rb
		}
		if !a.StartsAt.Equal(b.StartsAt) {
			return a.StartsAt.After(b.StartsAt)
		}
		return a.Labels.Before(b.Labels)
	})
	common := g.alerts[0].Labels.Clone()
	for _, a := range g.alerts {
		for n, val := range common {
			if a.Labels[n] != val {
				delete(common, n)
			}
		}
		if g.Since.IsZero() || a.StartsAt.Before(g.Since) {
			g.Since = a.StartsAt
		}
	}
	// The group's Silence link offers the labels all its alerts share
	// (the group labels alone could silence other routes' alerts too),
	// with the group labels and the alert name ticked: not the instance,
	// so that the next alert of the group is silenced too.
	tick := []string{string(model.AlertNameLabel)}
	for n := range g.groupLabels {
		if n != model.AlertNameLabel {
			tick = append(tick, string(n))
		}
	}
	g.SilenceURL = u.silenceFormURL(common, tick)
	g.FilterURL = d.links.base + url.QueryEscape(labelSetExpr(common))
	// An alert's line shows the labels that tell it apart: not the group
	// labels, nor (in a group of several) those they all share.
	hide := g.groupLabels.Clone()
	if len(g.alerts) > 1 {
		for n := range common {
			hide[n] = ""
		}
	}
	for n := range d.shared {
		hide[n] = ""
	}
	disp := u.h.opts.Routing.Dispatcher()
	for n, i := range idx {
		if n == alertsPerGroup {
			g.Hidden = len(idx) - n
			break
		}
		a := g.alerts[i]
		line := u.alertLine(d, a.Labels, a.Annotations, hide, g.states[i], a.StartsAt)
		switch line.State {
		case "silenced":
			for _, id := range u.h.opts.Silences.Mutes(a.Labels) {
				line.Silences = append(line.Silences, u.silenceRef(id, refs))
			}
		case "inhibited":
			if fp, ok := disp.Inhibited(a.Labels); ok {
				line.InhibitedBy = u.inhibitor(fp)
			}
		}
		g.Alerts = append(g.Alerts, line)
	}
}

// silenceRef looks a silence up once per page.
func (u *ui) silenceRef(id string, refs map[string]uiSilenceRef) uiSilenceRef {
	if r, ok := refs[id]; ok {
		return r
	}
	r := uiSilenceRef{ID: id}
	if s, err := u.h.opts.Silences.Get(id); err == nil {
		r.CreatedBy, r.Comment, r.EndsAt = s.CreatedBy, s.Comment, s.EndsAt
	}
	refs[id] = r
	return r
}

func (u *ui) inhibitor(fp model.Fingerprint) *uiInhibitor {
	inh := &uiInhibitor{Fingerprint: fp.String(), Name: fp.String()}
	if src, ok := u.h.opts.Routing.Store().Get(fp); ok {
		inh.Name = string(src.Labels[model.AlertNameLabel])
		inh.URL = u.url("/alerts/" + fp.String())
	}
	return inh
}

// alertLine builds an alert's line; hide names the labels it leaves out.
func (u *ui) alertLine(d *alertsData, ls, ann model.LabelSet, hide model.LabelSet, state string, since time.Time) uiAlert {
	fp := ls.Fingerprint().String()
	a := uiAlert{
		Fingerprint: fp, Name: string(ls[model.AlertNameLabel]), State: state, StartsAt: since,
		Severity: severityClass(ls["severity"]), Summary: string(ann["summary"]),
		URL: u.url("/alerts/" + fp), SilenceURL: u.silenceFormURL(ls, nil),
	}
	for _, p := range sortedPairs(ls) {
		if _, hidden := hide[model.LabelName(p.Name)]; hidden || p.Name == string(model.AlertNameLabel) {
			continue
		}
		if len(a.Labels) == maxLineLabels {
			break
		}
		a.Labels = append(a.Labels, d.links.label(p.Name, p.Value))
	}
	for _, p := range sortedPairs(ann) {
		if len(a.Links) < maxLineLinks && isWebURL(p.Value) {
			a.Links = append(a.Links, p)
		}
	}
	return a
}

// silenceFormURL opens the silence form offering the labels ls, those in
// tick ticked (all of them when tick is nil).
func (u *ui) silenceFormURL(ls model.LabelSet, tick []string) string {
	q := url.Values{"labels": {labelSetExpr(ls)}}
	if tick != nil {
		sort.Strings(tick)
		q.Set("tick", strings.Join(tick, ","))
	}
	return u.url("/silences/new") + "?" + q.Encode()
}

// severityClass maps a severity label to one of the page's colours.
func severityClass(v model.LabelValue) string {
	switch strings.ToLower(string(v)) {
	case "critical", "page", "error", "high", "p1", "emergency", "disaster":
		return "critical"
	case "warning", "warn", "medium", "p2", "p3":
		return "warning"
	case "info", "low", "none", "notice", "p4", "p5":
		return "info"
	}
	return "other"
}

// isWebURL reports whether s is an absolute http or https URL: the only
// annotations shown as links.
func isWebURL(s string) bool {
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return false
	}
	p, err := url.Parse(s)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// toLabelSet converts the evaluator's labels to a model.LabelSet.
func toLabelSet(ls promlabels.Labels) model.LabelSet {
	out := make(model.LabelSet, ls.Len())
	ls.Range(func(l promlabels.Label) { out[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return out
}

// silenceRefs resolves silence IDs for a page.
func (u *ui) silenceRefs(ids []string) []uiSilenceRef {
	refs := map[string]uiSilenceRef{}
	out := make([]uiSilenceRef, len(ids))
	for i, id := range ids {
		out[i] = u.silenceRef(id, refs)
	}
	return out
}
