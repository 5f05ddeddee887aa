package web

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

// uiRoute is one node of the routing tree as the routes page draws it.
type uiRoute struct {
	Matchers                         []string
	Receiver                         string
	GroupBy                          string
	GroupWait, GroupInterval, Repeat time.Duration
	Continue                         bool
	Mute, Active                     []string
	Line                             int
	Key                              string
	Routes                           []*uiRoute
	// Matched: the test label set ends at this route; OnPath: it passes
	// through it.
	Matched, OnPath bool
	// Order is the route's position among the matched routes, from 1.
	Order int
}

type routesData struct {
	NoRoute bool
	Tree    *uiRoute
	// The test form.
	Labels, LabelsError string
	Tested              bool
	Receivers           []string
	Results             []routeResult
	SilencedBy          []string
	InhibitedBy         string
	AlertsURL           string
}

type routeResult struct {
	Order       int
	Receiver    string
	Key         string
	GroupLabels []pair
}

// routes serves the routing tree and the form that tests which routes and
// receivers a label set takes (Alertmanager's #813).
func (u *ui) routes(w http.ResponseWriter, r *http.Request) {
	d := &routesData{Labels: r.URL.Query().Get("labels")}
	var disp *dispatch.Dispatcher
	if u.h.opts.Routing != nil {
		disp = u.h.opts.Routing.Dispatcher()
	}
	if disp == nil {
		d.NoRoute = true
		u.render(w, r, http.StatusOK, "routes", pageData{Title: "Routes", Nav: "routes", Data: d})
		return
	}
	root := disp.Route()
	status := http.StatusOK
	var matched map[*dispatch.Route]int
	if strings.TrimSpace(d.Labels) != "" {
		lset, err := parseLabelList(u.h.opts.MatcherSyntax, d.Labels)
		if err != nil {
			d.LabelsError, status = err.Error(), http.StatusBadRequest
		} else {
			d.Tested = true
			matched = map[*dispatch.Route]int{}
			for i, m := range root.Match(lset) {
				matched[m] = i + 1
				d.Results = append(d.Results, routeResult{Order: i + 1, Receiver: m.Opts.Receiver, Key: m.Key, GroupLabels: sortedPairs(m.GroupLabels(lset))})
			}
			d.Receivers = disp.Receivers(lset)
			if u.h.opts.Silences != nil {
				d.SilencedBy = u.h.opts.Silences.Mutes(lset)
			}
			if fp, ok := disp.Inhibited(lset); ok {
				d.InhibitedBy = fp.String()
			}
			d.AlertsURL = withQuery(u.url("/"), map[string]string{"filter": labelSetExpr(lset), "silenced": "1", "inhibited": "1"})
		}
	}
	d.Tree = routeTree(root, matched)
	u.render(w, r, status, "routes", pageData{Title: "Routes", Nav: "routes", Data: d})
}

// routeTree converts the routing tree, marking the matched routes and the
// routes on their way from the root.
func routeTree(r *dispatch.Route, matched map[*dispatch.Route]int) *uiRoute {
	o := r.Opts
	n := &uiRoute{
		Receiver: o.Receiver, GroupWait: o.GroupWait, GroupInterval: o.GroupInterval, Repeat: o.RepeatInterval,
		Continue: r.Continue, Mute: o.MuteTimeIntervals, Active: o.ActiveTimeIntervals, Line: r.Line, Key: r.Key,
		Order: matched[r],
	}
	n.Matched = n.Order > 0
	n.OnPath = n.Matched
	for _, m := range r.Matchers {
		n.Matchers = append(n.Matchers, m.String())
	}
	switch {
	case o.GroupByAll:
		n.GroupBy = "..."
	default:
		names := make([]string, 0, len(o.GroupBy))
		for l := range o.GroupBy {
			names = append(names, string(l))
		}
		sort.Strings(names)
		n.GroupBy = strings.Join(names, ", ")
	}
	for _, c := range r.Routes {
		cn := routeTree(c, matched)
		n.OnPath = n.OnPath || cn.OnPath
		n.Routes = append(n.Routes, cn)
	}
	return n
}

// parseLabelList reads a label set written as a=b, c="d e" or one label a
// line (braces allowed), as the routes form takes it.
func parseLabelList(syn config.MatcherSyntax, s string) (model.LabelSet, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	var parts []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), ",")); line != "" {
			parts = append(parts, line)
		}
	}
	if len(parts) == 0 {
		return nil, errors.New("no labels given: write them as alertname=\"Example\", severity=\"page\"")
	}
	ms, err := syn.ParseMatchers("{" + strings.Join(parts, ",") + "}")
	if err != nil {
		return nil, fmt.Errorf("bad label list: %w (write name=\"value\" pairs, separated by commas or lines)", err)
	}
	lset := model.LabelSet{}
	for _, m := range ms {
		if m.Type != labels.MatchEqual {
			return nil, fmt.Errorf("%s: labels are name=\"value\" pairs, not matchers", m)
		}
		lset[model.LabelName(m.Name)] = model.LabelValue(m.Value)
	}
	return lset, nil
}
