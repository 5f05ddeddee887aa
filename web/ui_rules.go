package web

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/alerter/alerter/evaluator"
)

type rulesData struct {
	Query, State, Health, Error string
	Groups                      []uiRuleGroup
	// Counts of alerting rules by state, and rules by health.
	Firing, Pending, Inactive, Unhealthy, Rules int
}

type uiRuleGroup struct {
	evaluator.GroupStatus
	Health          string
	Rules           []uiRule
	Open            bool
	firing, pending bool
}

type uiRule struct {
	evaluator.RuleStatus
	StateName string
	Labels    []pair
	Annots    []pair
	Alerts    []uiRuleAlert
}

type uiRuleAlert struct {
	State    string
	Labels   []pair
	Value    float64
	ActiveAt time.Time
	// Matchers selects the alert on the alerts page.
	Matchers string
}

// rules serves the rule groups with their rules' state, health, alerts
// and recent evaluations; ?q= keeps the rules whose name, group or file
// contains it, ?state= (firing, pending, inactive) and ?health= (ok, err,
// unknown: not evaluated) those in that state and health. Unhealthy groups
// come first, then those firing, then pending, else in file order.
func (u *ui) rules(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	d := &rulesData{Query: strings.TrimSpace(params.Get("q")), State: params.Get("state"), Health: params.Get("health")}
	status := http.StatusOK
	switch d.State {
	case "", "firing", "pending", "inactive":
	default:
		d.Error, status, d.State = fmt.Sprintf("invalid state %q: want firing, pending or inactive", d.State), http.StatusBadRequest, ""
	}
	switch d.Health {
	case "", string(evaluator.HealthOK), string(evaluator.HealthErr), string(evaluator.HealthUnknown):
	default:
		d.Error, status, d.Health = fmt.Sprintf("invalid health %q: want ok, err or unknown", d.Health), http.StatusBadRequest, ""
	}
	q := strings.ToLower(d.Query)
	var groups []evaluator.GroupStatus
	if u.h.opts.Rules != nil {
		groups = u.h.opts.Rules.Groups()
	}
	for _, g := range groups {
		ug := uiRuleGroup{GroupStatus: g}
		groupMatch := q == "" || strings.Contains(strings.ToLower(g.Name), q) || strings.Contains(strings.ToLower(g.File), q)
		var ok, unknown int
		for _, rs := range g.Rules {
			if !groupMatch && !strings.Contains(strings.ToLower(rs.Name), q) {
				continue
			}
			state := ""
			if rs.Alerting {
				state = stateName(rs.State)
			}
			if d.State != "" && state != d.State || d.Health != "" && string(rs.Health) != d.Health {
				continue
			}
			ug.Rules = append(ug.Rules, ruleItem(rs))
			d.Rules++
			switch state {
			case "firing":
				d.Firing++
				ug.firing = true
			case "pending":
				d.Pending++
				ug.pending = true
			case "inactive":
				d.Inactive++
			}
			switch rs.Health {
			case evaluator.HealthErr:
				d.Unhealthy++
				ug.Health = string(evaluator.HealthErr)
			case evaluator.HealthUnknown:
				unknown++
			default:
				ok++
			}
		}
		switch {
		case ug.Health != "":
		case ok == 0 && unknown > 0:
			// Not one rule evaluated: not "ok".
			ug.Health = string(evaluator.HealthUnknown)
		default:
			ug.Health = string(evaluator.HealthOK)
		}
		if len(ug.Rules) > 0 {
			d.Groups = append(d.Groups, ug)
		}
	}
	rank := func(g *uiRuleGroup) int {
		switch {
		case g.Health == string(evaluator.HealthErr):
			return 0
		case g.firing:
			return 1
		case g.pending:
			return 2
		}
		return 3
	}
	sort.SliceStable(d.Groups, func(i, j int) bool { return rank(&d.Groups[i]) < rank(&d.Groups[j]) })
	for i := range d.Groups {
		d.Groups[i].Open = len(d.Groups) <= 20 || rank(&d.Groups[i]) < 2
	}
	u.render(w, r, status, "rules", pageData{Title: "Rules", Nav: "rules", Data: d})
}

func ruleItem(rs evaluator.RuleStatus) uiRule {
	ur := uiRule{RuleStatus: rs, Labels: sortedPairs(toLabelSet(rs.Labels)), Annots: sortedPairs(toLabelSet(rs.Annotations))}
	ur.StateName = "recording"
	if rs.Alerting {
		ur.StateName = stateName(rs.State)
	}
	for _, a := range rs.Alerts {
		if a.State != evaluator.StatePending && a.State != evaluator.StateFiring {
			continue
		}
		ls := toLabelSet(a.Labels)
		ur.Alerts = append(ur.Alerts, uiRuleAlert{
			State: stateName(a.State), Labels: sortedPairs(ls), Value: a.Value, ActiveAt: a.ActiveAt, Matchers: labelSetExpr(ls),
		})
	}
	ur.History = rs.History // newest first
	return ur
}
