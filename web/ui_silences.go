package web

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/silences"
)

// silencesPerPage bounds the silences listed on one page.
const silencesPerPage = 100

// uiSilence is a silence as the pages show it.
type uiSilence struct {
	ID                  string
	Matchers            []string
	Expr                string
	State               silences.State
	StartsAt, EndsAt    time.Time
	UpdatedAt           time.Time
	CreatedBy, Comment  string
	Alerts              int // active alerts it mutes now
	EditURL, ExpireURL  string
	PageURL, CloneURL   string
	Duration            time.Duration
	ActiveNow, Editable bool
	// Replaces and ReplacedBy link the silences an edit replaced: the
	// old one, expired, and the new one.
	Replaces, ReplacedBy string
}

func (u *ui) silenceItem(s silences.Silence, now time.Time) uiSilence {
	v := uiSilence{
		ID: s.ID, Expr: s.Matchers.String(), State: s.State(now), StartsAt: s.StartsAt, EndsAt: s.EndsAt,
		UpdatedAt: s.UpdatedAt, CreatedBy: s.CreatedBy, Comment: s.Comment, Duration: s.EndsAt.Sub(s.StartsAt),
		PageURL: u.url("/silences/" + s.ID), EditURL: u.url("/silences/" + s.ID + "/edit"),
		ExpireURL: u.url("/silences/" + s.ID + "/expire"),
		CloneURL:  withQuery(u.url("/silences/new"), map[string]string{"filter": s.Matchers.String()}),
	}
	for _, m := range s.Matchers {
		v.Matchers = append(v.Matchers, m.String())
	}
	v.ActiveNow, v.Editable = v.State == silences.StateActive, v.State != silences.StateExpired
	v.Replaces = s.Replaces
	return v
}

// replacedBy finds the silence that replaced id, if any.
func (u *ui) replacedBy(id string) string {
	for _, s := range u.h.opts.Silences.Query() {
		if s.Replaces == id {
			return s.ID
		}
	}
	return ""
}

type silencesData struct {
	State, Filter, FilterError string
	// TextSearch is set when the search is free text (author, comment,
	// ID, matchers), not matchers.
	TextSearch               bool
	Flash                    string
	Counts                   map[silences.State]int
	Tabs                     []silenceTab
	Silences                 []uiSilence
	Page, Pages, Total       int
	PrevURL, NextURL, NewURL string
}

type silenceTab struct {
	State  silences.State
	Count  int
	URL    string
	Active bool
}

// silences lists the silences of one state, searched by matchers as
// Alertmanager's API filters them, or by free text (author, comment, ID,
// matchers) when the search is not matchers.
func (u *ui) silences(w http.ResponseWriter, r *http.Request) {
	if u.noSilences(w, r) {
		return
	}
	q := r.URL.Query()
	d := &silencesData{State: q.Get("state"), Filter: q.Get("filter"), Counts: map[silences.State]int{}, NewURL: u.url("/silences/new")}
	if d.State != string(silences.StatePending) && d.State != string(silences.StateExpired) {
		d.State = string(silences.StateActive)
	}
	status := http.StatusOK
	ms, err := parseMatcherExpr(u.h.opts.MatcherSyntax, d.Filter)
	text := ""
	if err != nil {
		if strings.ContainsAny(d.Filter, "=~") {
			// Meant as matchers: say what is wrong with them.
			d.FilterError, status = err.Error(), http.StatusBadRequest
		} else {
			d.TextSearch, text, err = true, strings.ToLower(strings.TrimSpace(d.Filter)), nil
		}
	}
	switch q.Get("done") {
	case "expired":
		n, _ := strconv.Atoi(q.Get("n"))
		d.Flash = fmt.Sprintf("Expired %d %s.", n, plural(n, "silence", "silences"))
	}
	now := time.Now()
	var list []silences.Silence
	if err == nil {
		for _, s := range u.h.opts.Silences.Query() {
			if d.TextSearch && !silenceHasText(s, text) || !d.TextSearch && !silenceMatchesFilter(s, ms) {
				continue
			}
			st := s.State(now)
			d.Counts[st]++
			if string(st) == d.State {
				list = append(list, s)
			}
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		switch d.State {
		case string(silences.StateActive):
			return a.EndsAt.Before(b.EndsAt)
		case string(silences.StatePending):
			return a.StartsAt.Before(b.StartsAt)
		}
		return a.EndsAt.After(b.EndsAt)
	})
	for _, st := range []silences.State{silences.StateActive, silences.StatePending, silences.StateExpired} {
		d.Tabs = append(d.Tabs, silenceTab{
			State: st, Count: d.Counts[st], Active: string(st) == d.State,
			URL: withQuery(u.url("/silences"), map[string]string{"state": string(st), "filter": d.Filter}),
		})
	}
	d.Total = len(list)
	d.Pages = max(1, (d.Total+silencesPerPage-1)/silencesPerPage)
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	link := func(p int) string {
		return withQuery(u.url("/silences"), map[string]string{"state": d.State, "filter": d.Filter, "page": strconv.Itoa(p)})
	}
	if d.Page > 1 {
		d.PrevURL = link(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.NextURL = link(d.Page + 1)
	}
	list = list[(d.Page-1)*silencesPerPage : min(d.Page*silencesPerPage, d.Total)]
	counts := u.mutedCounts(now)
	for _, s := range list {
		v := u.silenceItem(s, now)
		v.Alerts = counts[s.ID]
		d.Silences = append(d.Silences, v)
	}
	u.render(w, r, status, "silences", pageData{Title: "Silences", Nav: "silences", Data: d})
}

// silenceHasText reports whether a silence's author, comment, ID or
// matchers contain text (lower case).
func silenceHasText(s silences.Silence, text string) bool {
	for _, f := range []string{s.CreatedBy, s.Comment, s.ID, s.Matchers.String()} {
		if strings.Contains(strings.ToLower(f), text) {
			return true
		}
	}
	return false
}

// expireSilences expires the silences ticked on the silences page
// (bulk expire), then shows the page again (post/redirect/get).
func (u *ui) expireSilences(w http.ResponseWriter, r *http.Request) {
	if u.noSilences(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		u.fail(w, r, bodyStatus(err), fmt.Errorf("reading the form: %w", err))
		return
	}
	ids := r.PostForm["id"]
	if len(ids) == 0 {
		u.fail(w, r, http.StatusBadRequest, errors.New("no silence was ticked: tick the silences to expire"))
		return
	}
	var errs []error
	for _, id := range ids {
		if err := u.h.opts.Silences.Expire(r.Context(), id); err != nil {
			errs = append(errs, fmt.Errorf("silence %s: %w", id, err))
		}
	}
	if len(errs) > 0 {
		u.fail(w, r, silenceErrorStatus(errs[0]), fmt.Errorf("expired %d of %d silences: %w", len(ids)-len(errs), len(ids), errors.Join(errs...)))
		return
	}
	u.h.opts.Logger.Info("Silences expired from the web UI", "ids", ids)
	back := withQuery(u.url("/silences"), map[string]string{"state": r.PostForm.Get("state"), "filter": r.PostForm.Get("filter"),
		"done": "expired", "n": strconv.Itoa(len(ids))})
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// mutedCounts counts, per active silence, the active alerts it mutes now.
func (u *ui) mutedCounts(now time.Time) map[string]int {
	counts := map[string]int{}
	if u.h.opts.Routing == nil {
		return counts
	}
	u.h.opts.Routing.Store().List(func(a *dispatch.Alert) bool {
		if !a.ResolvedAt(now) {
			for _, id := range u.h.opts.Silences.Mutes(a.Labels) {
				counts[id]++
			}
		}
		return true
	})
	return counts
}

type silenceData struct {
	Silence uiSilence
	Preview *previewData
	// Expired says the silence was just expired.
	Flash string
}

// silence shows one silence and the alerts it matches.
func (u *ui) silence(w http.ResponseWriter, r *http.Request) {
	s, ok := u.pathSilence(w, r)
	if !ok {
		return
	}
	now := time.Now()
	d := &silenceData{Silence: u.silenceItem(s, now), Preview: u.preview(s.Matchers, now)}
	d.Silence.ReplacedBy = u.replacedBy(s.ID)
	switch r.URL.Query().Get("done") {
	case "saved":
		d.Flash = "Silence saved."
	case "expired":
		d.Flash = "Silence expired."
	}
	u.render(w, r, http.StatusOK, "silence", pageData{Title: "Silence " + s.ID, Nav: "silences", Data: d})
}

// expireSilence ends a silence now and shows it.
func (u *ui) expireSilence(w http.ResponseWriter, r *http.Request) {
	if u.noSilences(w, r) {
		return
	}
	id := r.PathValue("id")
	if err := u.h.opts.Silences.Expire(r.Context(), id); err != nil {
		u.fail(w, r, silenceErrorStatus(err), err)
		return
	}
	u.h.opts.Logger.Info("Silence expired from the web UI", "id", id)
	http.Redirect(w, r, u.url("/silences/"+id+"?done=expired"), http.StatusSeeOther)
}

// previewData lists the alerts that matchers select, as the silence form
// and the silence page show them.
type previewData struct {
	Alerts []uiAlert
	// Total counts every matching active alert; Alerts holds the first.
	Total int
	// Error says why there is no preview.
	Error string
}

// previewMax bounds the alerts a preview lists.
const previewMax = 50

// preview finds the active alerts that all of ms match.
func (u *ui) preview(ms labels.Matchers, now time.Time) *previewData {
	p := &previewData{}
	if u.h.opts.Routing == nil || len(ms) == 0 {
		return p
	}
	disp := u.h.opts.Routing.Dispatcher()
	var found []*dispatch.Alert
	u.h.opts.Routing.Store().List(func(a *dispatch.Alert) bool {
		if !a.ResolvedAt(now) && ms.Matches(a.Labels) {
			found = append(found, a)
		}
		return true
	})
	p.Total = len(found)
	sort.Slice(found, func(i, j int) bool { return found[i].StartsAt.After(found[j].StartsAt) })
	d := &alertsData{}
	d.links.base = u.url("/") + "?filter="
	refs := map[string]uiSilenceRef{}
	for i, a := range found {
		if i == previewMax {
			break
		}
		line := u.alertLine(d, a.Labels, a.Annotations, nil, u.alertState(a, disp), a.StartsAt)
		if line.State == "silenced" {
			for _, id := range u.h.opts.Silences.Mutes(a.Labels) {
				line.Silences = append(line.Silences, u.silenceRef(id, refs))
			}
		}
		line.NoSilence = true
		p.Alerts = append(p.Alerts, line)
	}
	return p
}

// pathSilence returns the silence named by the {id} path value, or answers
// with the error page.
func (u *ui) pathSilence(w http.ResponseWriter, r *http.Request) (silences.Silence, bool) {
	if u.h.opts.Silences == nil {
		u.fail(w, r, http.StatusNotFound, errors.New("silences are not available: alerter runs without routing"))
		return silences.Silence{}, false
	}
	s, err := u.h.opts.Silences.Get(r.PathValue("id"))
	if err != nil {
		u.fail(w, r, silenceErrorStatus(err), err)
		return silences.Silence{}, false
	}
	return s, true
}

// noSilences answers 404 when this process has no silences (no routing).
func (u *ui) noSilences(w http.ResponseWriter, r *http.Request) bool {
	if u.h.opts.Silences != nil {
		return false
	}
	u.fail(w, r, http.StatusNotFound, errors.New("silences are not available: alerter runs without routing"))
	return true
}
