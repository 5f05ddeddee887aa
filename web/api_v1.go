package web

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/alerter/alerter/evaluator"
)

// The JSON shapes of Prometheus' /api/v1/rules and /api/v1/alerts.
type (
	ruleGroupJSON struct {
		Name           string    `json:"name"`
		File           string    `json:"file"`
		Rules          []any     `json:"rules"`
		Interval       float64   `json:"interval"`
		Limit          int       `json:"limit"`
		EvaluationTime float64   `json:"evaluationTime"`
		LastEvaluation time.Time `json:"lastEvaluation"`
		// alerter's extensions.
		Schedule   string `json:"schedule,omitempty"`
		Datasource string `json:"datasource,omitempty"`
	}
	alertingRuleJSON struct {
		State          string           `json:"state"`
		Name           string           `json:"name"`
		Query          string           `json:"query"`
		Duration       float64          `json:"duration"`
		KeepFiringFor  float64          `json:"keepFiringFor"`
		Labels         labels.Labels    `json:"labels"`
		Annotations    labels.Labels    `json:"annotations"`
		Alerts         []alertJSON      `json:"alerts,omitempty"`
		Health         evaluator.Health `json:"health"`
		LastError      string           `json:"lastError,omitempty"`
		EvaluationTime float64          `json:"evaluationTime"`
		LastEvaluation time.Time        `json:"lastEvaluation"`
		Type           string           `json:"type"`
		History        []evaluationJSON `json:"history,omitempty"`
	}
	recordingRuleJSON struct {
		Name           string           `json:"name"`
		Query          string           `json:"query"`
		Labels         labels.Labels    `json:"labels,omitempty"`
		Health         evaluator.Health `json:"health"`
		LastError      string           `json:"lastError,omitempty"`
		EvaluationTime float64          `json:"evaluationTime"`
		LastEvaluation time.Time        `json:"lastEvaluation"`
		Type           string           `json:"type"`
		History        []evaluationJSON `json:"history,omitempty"`
	}
	alertJSON struct {
		Labels          labels.Labels `json:"labels"`
		Annotations     labels.Labels `json:"annotations"`
		State           string        `json:"state"`
		ActiveAt        *time.Time    `json:"activeAt,omitempty"`
		KeepFiringSince *time.Time    `json:"keepFiringSince,omitempty"`
		Value           string        `json:"value"`
	}
	evaluationJSON struct {
		Time     time.Time `json:"time"`
		Duration float64   `json:"duration"`
		Samples  int       `json:"samples"`
		Error    string    `json:"error,omitempty"`
	}
)

// rules serves GET /api/v1/rules with Prometheus' filters: type=alert|record,
// rule_name[], rule_group[], file[], exclude_alerts. history=true adds each
// rule's last evaluations (an alerter extension).
func (h *handler) rules(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	typ := q.Get("type")
	if typ != "" && typ != "alert" && typ != "record" {
		badRequest(w, "invalid type %q: want alert or record", typ)
		return
	}
	excludeAlerts, err := parseBool(q.Get("exclude_alerts"))
	if err != nil {
		badRequest(w, "invalid exclude_alerts: %v", err)
		return
	}
	history, err := parseBool(q.Get("history"))
	if err != nil {
		badRequest(w, "invalid history: %v", err)
		return
	}
	names, groupNames, files := q["rule_name[]"], q["rule_group[]"], q["file[]"]
	match := func(list []string, s string) bool { return len(list) == 0 || slices.Contains(list, s) }

	out := []ruleGroupJSON{}
	for _, g := range h.opts.Rules.Groups() {
		if !match(groupNames, g.Name) || !match(files, g.File) {
			continue
		}
		gj := ruleGroupJSON{
			Name: g.Name, File: g.File, Rules: []any{}, Interval: g.Interval.Seconds(), Limit: g.Limit,
			EvaluationTime: g.EvaluationTime.Seconds(), LastEvaluation: g.LastEvaluation,
			Schedule: g.Schedule, Datasource: g.Datasource,
		}
		for _, rs := range g.Rules {
			if !match(names, rs.Name) || (typ == "alert" && !rs.Alerting) || (typ == "record" && rs.Alerting) {
				continue
			}
			gj.Rules = append(gj.Rules, ruleJSON(rs, excludeAlerts, history))
		}
		if len(gj.Rules) > 0 || (len(names) == 0 && typ == "") {
			out = append(out, gj)
		}
	}
	writeJSON(w, http.StatusOK, apiResponse{Status: "success", Data: map[string]any{"groups": out}})
}

func ruleJSON(rs evaluator.RuleStatus, excludeAlerts, history bool) any {
	var hist []evaluationJSON
	if history {
		for _, e := range rs.History {
			hist = append(hist, evaluationJSON{Time: e.Time, Duration: e.Duration.Seconds(), Samples: e.Samples, Error: e.Err})
		}
	}
	if !rs.Alerting {
		return recordingRuleJSON{
			Name: rs.Name, Query: rs.Query, Labels: rs.Labels, Health: rs.Health, LastError: rs.LastError,
			EvaluationTime: rs.Last.Duration.Seconds(), LastEvaluation: rs.Last.Time, Type: "recording", History: hist,
		}
	}
	j := alertingRuleJSON{
		State: stateName(rs.State), Name: rs.Name, Query: rs.Query,
		Duration: rs.For.Seconds(), KeepFiringFor: rs.KeepFiringFor.Seconds(),
		Labels: rs.Labels, Annotations: rs.Annotations, Health: rs.Health, LastError: rs.LastError,
		EvaluationTime: rs.Last.Duration.Seconds(), LastEvaluation: rs.Last.Time, Type: "alerting", History: hist,
	}
	if !excludeAlerts {
		j.Alerts = activeAlerts(rs.Alerts)
	}
	return j
}

// stateName is a rule's state as Prometheus shows it: "inactive" also
// before the first evaluation.
func stateName(s evaluator.AlertState) string {
	if s == evaluator.StateUnknown {
		return evaluator.StateInactive.String()
	}
	return s.String()
}

// activeAlerts returns the pending and firing alerts (not the resolved ones
// kept for re-sending), sorted by labels.
func activeAlerts(alerts []evaluator.Alert) []alertJSON {
	out := []alertJSON{}
	for _, a := range alerts {
		if a.State != evaluator.StatePending && a.State != evaluator.StateFiring {
			continue
		}
		activeAt := a.ActiveAt
		j := alertJSON{
			Labels: a.Labels, Annotations: a.Annotations, State: a.State.String(), ActiveAt: &activeAt,
			Value: strconv.FormatFloat(a.Value, 'e', -1, 64),
		}
		if !a.KeepFiringSince.IsZero() {
			since := a.KeepFiringSince
			j.KeepFiringSince = &since
		}
		out = append(out, j)
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels, out[j].Labels) < 0 })
	return out
}

// alerts serves GET /api/v1/alerts: every pending and firing alert.
func (h *handler) alerts(w http.ResponseWriter, _ *http.Request) {
	all := []alertJSON{}
	for _, g := range h.opts.Rules.Groups() {
		for _, rs := range g.Rules {
			all = append(all, activeAlerts(rs.Alerts)...)
		}
	}
	writeJSON(w, http.StatusOK, apiResponse{Status: "success", Data: map[string]any{"alerts": all}})
}

func parseBool(s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	return strconv.ParseBool(s)
}
