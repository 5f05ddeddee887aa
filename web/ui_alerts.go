package web

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	promlabels "github.com/prometheus/prometheus/model/labels"

	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/evaluator"
)

// Paging of the alerts page: a page holds groupsPerPage groups, each
// showing at most alertsPerGroup alerts, so that 10,000 alerts stay a page
// a browser renders at once.
const (
	groupsPerPage  = 50
	alertsPerGroup = 100
	// openGroupMax is the largest group shown unfolded.
	openGroupMax = 25
)

// uiAlert is one alert as the alerts page shows it.
type uiAlert struct {
	Name         string
	Labels       []pair
	Summary      string
	Description  string
	Annotations  []pair
	State        string // firing, pending, silenced, inhibited
	StartsAt     time.Time
	SilencedBy   []string
	InhibitedBy  *uiInhibitor
	Receivers    []string
	GeneratorURL string
	// Matchers selects this alert, for its Silence link.
	Matchers string
	// NoSilence leaves the Silence link out (in a silence's preview).
	NoSilence bool
}

// uiInhibitor names the alert that inhibits another.
type uiInhibitor struct {
	Name, Fingerprint string
	// Matchers selects the inhibiting alert, to link to it.
	Matchers string
}

// uiGroup is one group of alerts on the alerts page.
type uiGroup struct {
	Labels   []pair
	Receiver string
	// Matchers selects the group's alerts, for its Silence link.
	Matchers                   string
	Alerts                     []uiAlert
	Total, Silenced, Inhibited int
	Hidden                     int // alerts beyond alertsPerGroup
	Open, Pending              bool
	// Since is when the group's oldest alert started.
	Since         time.Time
	views         []gettableAlert
	pendingAlerts []evaluator.Alert
	groupLabels   model.LabelSet
}

type alertsData struct {
	Filter, FilterError, GroupBy                string
	ShowSilenced, ShowInhibited, ShowPending    bool
	Groups                                      []*uiGroup
	Page, Pages, TotalGroups                    int
	Active, Silenced, Inhibited, Pending, Shown int
	PrevURL, NextURL                            string
	NoRouting, RouteGroups                      bool
	SilenceURL                                  string
}

// alerts serves the alerts page: active alerts grouped by aggregation
// group (or by the label in group_by), filtered by matchers.
func (u *ui) alerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := &alertsData{
		Filter: q.Get("filter"), GroupBy: q.Get("group_by"),
		ShowSilenced: q.Get("silenced") != "", ShowInhibited: q.Get("inhibited") != "", ShowPending: q.Get("pending") != "",
	}
	status := http.StatusOK
	ms, err := parseMatcherExpr(u.h.opts.MatcherSyntax, d.Filter)
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
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	d.Groups = d.Groups[(d.Page-1)*groupsPerPage : min(d.Page*groupsPerPage, d.TotalGroups)]
	link := func(page int) string {
		qq := map[string]string{"filter": d.Filter, "group_by": d.GroupBy, "page": strconv.Itoa(page)}
		for k, on := range map[string]bool{"silenced": d.ShowSilenced, "inhibited": d.ShowInhibited, "pending": d.ShowPending} {
			if on {
				qq[k] = "1"
			}
		}
		return withQuery(u.url("/"), qq)
	}
	if d.Page > 1 {
		d.PrevURL = link(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.NextURL = link(d.Page + 1)
	}
	for _, g := range d.Groups {
		u.fillGroup(g)
		d.Shown += len(g.Alerts)
	}
	if len(ms) > 0 {
		d.SilenceURL = withQuery(u.url("/silences/new"), map[string]string{"filter": ms.String()})
	}
	u.render(w, r, status, "alerts", pageData{Title: "Alerts", Nav: "alerts", Data: d})
}

// collectAlerts sorts the stored alerts that pass ms into groups,
// counting the silenced and inhibited ones whether shown or not.
func (u *ui) collectAlerts(d *alertsData, ms labels.Matchers) {
	rt := u.h.opts.Routing
	disp := rt.Dispatcher()
	now := time.Now()
	f := &alertFilter{matchers: ms, active: true, silenced: true, inhibited: true, unprocessed: true}
	// keep counts an alert once and says whether the toggles show it.
	seen := map[string]bool{}
	keep := func(v gettableAlert) bool {
		silenced, inhibited := len(v.Status.SilencedBy) > 0, len(v.Status.InhibitedBy) > 0
		if !seen[v.Fingerprint] {
			seen[v.Fingerprint] = true
			switch {
			case silenced:
				d.Silenced++
			case inhibited:
				d.Inhibited++
			default:
				d.Active++
			}
		}
		// An alert shows when the toggle of its state is on; silenced
		// wins over inhibited, as on the page.
		return silenced && d.ShowSilenced || !silenced && inhibited && d.ShowInhibited || !silenced && !inhibited
	}
	add := func(g *uiGroup, v gettableAlert) {
		g.Total++
		if len(v.Status.SilencedBy) > 0 {
			g.Silenced++
		} else if len(v.Status.InhibitedBy) > 0 {
			g.Inhibited++
		}
		g.views = append(g.views, v)
	}
	if disp != nil && d.GroupBy == "" {
		d.RouteGroups = true
		for _, gv := range disp.Groups() {
			g := &uiGroup{Receiver: gv.Receiver, groupLabels: gv.Labels}
			for _, a := range gv.Alerts {
				if v, ok := u.h.alertView(a, disp, f, now); ok && keep(v) {
					add(g, v)
				}
			}
			if len(g.views) > 0 {
				d.Groups = append(d.Groups, g)
			}
		}
		return
	}
	by := model.LabelName(d.GroupBy)
	if by == "" {
		by = model.AlertNameLabel
		d.GroupBy = string(by)
	}
	byValue := map[model.LabelValue]*uiGroup{}
	rt.Store().List(func(a *dispatch.Alert) bool {
		v, ok := u.h.alertView(a, disp, f, now)
		if !ok || !keep(v) {
			return true
		}
		val := a.Labels[by]
		g := byValue[val]
		if g == nil {
			g = &uiGroup{groupLabels: model.LabelSet{by: val}}
			byValue[val] = g
		}
		add(g, v)
		return true
	})
	vals := make([]model.LabelValue, 0, len(byValue))
	for v := range byValue {
		vals = append(vals, v)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, v := range vals {
		d.Groups = append(d.Groups, byValue[v])
	}
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

// fillGroup builds the view of a group that is shown.
func (u *ui) fillGroup(g *uiGroup) {
	g.Open = g.Total <= openGroupMax
	if g.Pending {
		sort.Slice(g.pendingAlerts, func(i, j int) bool { return g.pendingAlerts[i].ActiveAt.After(g.pendingAlerts[j].ActiveAt) })
		for i, a := range g.pendingAlerts {
			if i == alertsPerGroup {
				g.Hidden = len(g.pendingAlerts) - i
				break
			}
			g.Alerts = append(g.Alerts, u.alertItem(toLabelSet(a.Labels), toLabelSet(a.Annotations), "pending", a.ActiveAt))
		}
		return
	}
	sort.Slice(g.views, func(i, j int) bool {
		a, b := g.views[i].Labels, g.views[j].Labels
		if a[model.AlertNameLabel] != b[model.AlertNameLabel] {
			return a[model.AlertNameLabel] < b[model.AlertNameLabel]
		}
		return a.Before(b)
	})
	common := g.views[0].Labels.Clone()
	for _, v := range g.views {
		for n, val := range common {
			if v.Labels[n] != val {
				delete(common, n)
			}
		}
		if g.Since.IsZero() || v.StartsAt.Before(g.Since) {
			g.Since = v.StartsAt
		}
	}
	g.Labels = sortedPairs(g.groupLabels)
	// The group's Silence link selects the labels all its alerts share (the
	// group labels and more): the group labels alone could silence other
	// routes' alerts too.
	g.Matchers = labelSetExpr(common)
	for i, v := range g.views {
		if i == alertsPerGroup {
			g.Hidden = len(g.views) - i
			break
		}
		g.Alerts = append(g.Alerts, u.viewItem(v))
	}
}

// viewItem turns the API's view of an alert into the page's.
func (u *ui) viewItem(v gettableAlert) uiAlert {
	state := "firing"
	switch {
	case len(v.Status.SilencedBy) > 0:
		state = "silenced"
	case len(v.Status.InhibitedBy) > 0:
		state = "inhibited"
	}
	a := u.alertItem(v.Labels, v.Annotations, state, v.StartsAt)
	a.SilencedBy, a.GeneratorURL = v.Status.SilencedBy, v.GeneratorURL
	for _, r := range v.Receivers {
		a.Receivers = append(a.Receivers, r.Name)
	}
	if len(v.Status.InhibitedBy) > 0 {
		inh := &uiInhibitor{Fingerprint: v.Status.InhibitedBy[0], Name: v.Status.InhibitedBy[0]}
		if fp, err := model.ParseFingerprint(inh.Fingerprint); err == nil {
			if src, ok := u.h.opts.Routing.Store().Get(fp); ok {
				inh.Name = string(src.Labels[model.AlertNameLabel])
				inh.Matchers = labelSetExpr(src.Labels)
			}
		}
		a.InhibitedBy = inh
	}
	return a
}

func (u *ui) alertItem(ls, ann model.LabelSet, state string, since time.Time) uiAlert {
	a := uiAlert{
		Name: string(ls[model.AlertNameLabel]), State: state, StartsAt: since, Matchers: labelSetExpr(ls),
		Summary: string(ann["summary"]), Description: string(ann["description"]),
	}
	for _, p := range sortedPairs(ls) {
		if p.Name != string(model.AlertNameLabel) {
			a.Labels = append(a.Labels, p)
		}
	}
	for _, p := range sortedPairs(ann) {
		if p.Name != "summary" && p.Name != "description" {
			a.Annotations = append(a.Annotations, p)
		}
	}
	return a
}

// toLabelSet converts the evaluator's labels to a model.LabelSet.
func toLabelSet(ls promlabels.Labels) model.LabelSet {
	out := make(model.LabelSet, ls.Len())
	ls.Range(func(l promlabels.Label) { out[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return out
}
