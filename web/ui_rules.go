package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/alerter/alerter/evaluator"
)

type rulesData struct {
	Query  string
	Groups []uiRuleGroup
	// Counts of alerting rules by state, and rules by health.
	Firing, Pending, Inactive, Unhealthy, Rules int
}

type uiRuleGroup struct {
	evaluator.GroupStatus
	Health string
	Rules  []uiRule
	Open   bool
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
// contains it.
func (u *ui) rules(w http.ResponseWriter, r *http.Request) {
	d := &rulesData{Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	q := strings.ToLower(d.Query)
	var groups []evaluator.GroupStatus
	if u.h.opts.Rules != nil {
		groups = u.h.opts.Rules.Groups()
	}
	for _, g := range groups {
		ug := uiRuleGroup{GroupStatus: g, Health: string(evaluator.HealthOK)}
		groupMatch := q == "" || strings.Contains(strings.ToLower(g.Name), q) || strings.Contains(strings.ToLower(g.File), q)
		for _, rs := range g.Rules {
			if !groupMatch && !strings.Contains(strings.ToLower(rs.Name), q) {
				continue
			}
			ug.Rules = append(ug.Rules, ruleItem(rs))
			d.Rules++
			switch {
			case !rs.Alerting:
			case rs.State == evaluator.StateFiring:
				d.Firing++
			case rs.State == evaluator.StatePending:
				d.Pending++
			default:
				d.Inactive++
			}
			switch rs.Health {
			case evaluator.HealthErr:
				d.Unhealthy++
				ug.Health = string(evaluator.HealthErr)
			case evaluator.HealthUnknown:
				if ug.Health == string(evaluator.HealthOK) && g.LastEvaluation.IsZero() {
					ug.Health = string(evaluator.HealthUnknown)
				}
			}
		}
		if len(ug.Rules) > 0 {
			d.Groups = append(d.Groups, ug)
		}
	}
	for i := range d.Groups {
		d.Groups[i].Open = len(d.Groups) <= 20 || d.Groups[i].Health == string(evaluator.HealthErr)
	}
	u.render(w, r, http.StatusOK, "rules", pageData{Title: "Rules", Nav: "rules", Data: d})
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
