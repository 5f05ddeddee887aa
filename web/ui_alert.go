package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/dispatch"
)

// uiAnnotation is an annotation; URL is set for http(s) links.
type uiAnnotation struct {
	Name, Value string
	URL         bool
}

// uiEvent is one event of an alert's timeline.
type uiEvent struct {
	eventJSON
	// SilenceURLs link the silences of a silenced event; InhibitorURL the
	// inhibiting alert's page.
	Silences     []uiSilenceRef
	InhibitorURL string
}

// alertPageData is an alert's page: all it has, and what happened to it.
type alertPageData struct {
	Fingerprint string
	Name        string
	// Active is set while the alert store holds the alert unresolved.
	Active      bool
	State       string
	StartsAt    time.Time
	Labels      []uiLabel
	Annotations []uiAnnotation
	Summary     string
	Description string
	Receivers   []string
	Silences    []uiSilenceRef
	InhibitedBy *uiInhibitor
	SilenceURL  string
	// GeneratorURL is the source graph; RuleURL the rule on the rules page.
	GeneratorURL, RuleURL string
	// Events is the timeline, oldest first; EventsNote says why there is
	// none.
	Events      []uiEvent
	EventsNote  string
	Truncated   bool
	TimelineAPI string
}

// alertPage serves /alerts/{fingerprint}: an alert's labels (each a filter
// link, to keep or to exclude), annotations (links where they are URLs),
// silences and inhibitor, receivers, links to its rule and source, and its
// timeline: "why was I (not) paged?".
func (u *ui) alertPage(w http.ResponseWriter, r *http.Request) {
	fp, err := model.ParseFingerprint(r.PathValue("fingerprint"))
	if err != nil {
		u.fail(w, r, http.StatusBadRequest, errors.New("not an alert fingerprint: want 16 hexadecimal digits"))
		return
	}
	d := &alertPageData{Fingerprint: fp.String(), TimelineAPI: u.url("/api/v1/alerts/timeline?fingerprint=" + fp.String())}
	links := &filterLinks{base: u.url("/") + "?filter="}
	var ls, ann model.LabelSet
	if rt := u.h.opts.Routing; rt != nil {
		if a, ok := rt.Store().Get(fp); ok && !a.ResolvedAt(time.Now()) {
			disp := rt.Dispatcher()
			d.Active, ls, ann = true, a.Labels, a.Annotations
			d.State, d.StartsAt, d.GeneratorURL = u.alertState(a, disp), a.StartsAt, a.GeneratorURL
			if disp != nil {
				d.Receivers = disp.Receivers(a.Labels)
				if src, ok := disp.Inhibited(a.Labels); ok {
					d.InhibitedBy = u.inhibitor(src)
				}
			}
			if u.h.opts.Silences != nil {
				d.Silences = u.silenceRefs(u.h.opts.Silences.Mutes(a.Labels))
			}
		}
	}
	if u.h.opts.Events == nil {
		d.EventsNote = "This process does not record alert events."
	} else {
		tl, err := u.h.timeline(r.Context(), TimelineQuery{Fingerprints: []model.Fingerprint{fp}}, nil)
		switch {
		case err != nil:
			u.h.opts.Logger.Error("Reading the alert events failed", "err", err)
			d.EventsNote = "Reading the alert's events failed: " + err.Error()
		case len(tl.Alerts) == 0:
			d.EventsNote = "No event is recorded for this alert (older ones are deleted after --data.retention)."
		default:
			a := tl.Alerts[0]
			if ls == nil {
				ls = a.Labels
			}
			d.Truncated = a.Truncated
			refs := map[string]uiSilenceRef{}
			for _, ev := range a.Events {
				ue := uiEvent{eventJSON: ev}
				for _, id := range ev.Silences {
					ue.Silences = append(ue.Silences, u.silenceRef(id, refs))
				}
				if ev.Inhibitor != "" {
					ue.InhibitorURL = u.url("/alerts/" + ev.Inhibitor)
				}
				d.Events = append(d.Events, ue)
			}
		}
	}
	if ls == nil {
		u.fail(w, r, http.StatusNotFound, errors.New("no active alert and no recorded event has this fingerprint"))
		return
	}
	d.Name = string(ls[model.AlertNameLabel])
	d.Summary, d.Description = string(ann["summary"]), string(ann["description"])
	for _, p := range sortedPairs(ls) {
		d.Labels = append(d.Labels, links.label(p.Name, p.Value))
	}
	for _, p := range sortedPairs(ann) {
		if p.Name != "summary" && p.Name != "description" {
			d.Annotations = append(d.Annotations, uiAnnotation{Name: p.Name, Value: p.Value, URL: isWebURL(p.Value)})
		}
	}
	if !isWebURL(d.GeneratorURL) {
		d.GeneratorURL = ""
	}
	d.RuleURL = u.url("/rules") + "?q=" + url.QueryEscape(d.Name)
	d.SilenceURL = u.silenceFormURL(ls, nil)
	u.render(w, r, http.StatusOK, "alert", pageData{Title: d.Name + " " + d.Fingerprint, Nav: "alerts", Data: d})
}

// Bounds of the label completions.
const (
	completionNames  = 100
	completionValues = 30
)

// alertLabels serves /alerts/labels: the label names of the active alerts
// and their most common values, for the filter's completion.
func (u *ui) alertLabels(w http.ResponseWriter, r *http.Request) {
	counts := map[model.LabelName]map[model.LabelValue]int{}
	if rt := u.h.opts.Routing; rt != nil {
		now := time.Now()
		rt.Store().List(func(a *dispatch.Alert) bool {
			if a.ResolvedAt(now) {
				return true
			}
			for n, v := range a.Labels {
				m := counts[n]
				if m == nil {
					m = map[model.LabelValue]int{}
					counts[n] = m
				}
				m[v]++
			}
			return true
		})
	}
	names := make([]model.LabelName, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	// The names most alerts have first.
	total := func(n model.LabelName) (t int) {
		for _, c := range counts[n] {
			t += c
		}
		return t
	}
	sort.Slice(names, func(i, j int) bool {
		ti, tj := total(names[i]), total(names[j])
		if ti != tj {
			return ti > tj
		}
		return names[i] < names[j]
	})
	out := map[model.LabelName][]model.LabelValue{}
	for i, n := range names {
		if i == completionNames {
			break
		}
		vals := make([]model.LabelValue, 0, len(counts[n]))
		for v := range counts[n] {
			vals = append(vals, v)
		}
		sort.Slice(vals, func(i, j int) bool {
			if counts[n][vals[i]] != counts[n][vals[j]] {
				return counts[n][vals[i]] > counts[n][vals[j]]
			}
			return vals[i] < vals[j]
		})
		out[n] = vals[:min(len(vals), completionValues)]
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
