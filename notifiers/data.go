// Package notifiers delivers notifications to receivers' integrations
// (webhook now; email and Slack next), with Alertmanager's message formats
// and notification templates.
package notifiers

import (
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/dispatch"
)

// Data returns the template data Alertmanager builds for a notification of
// b's alerts: the same fields, the same common labels, and firing alerts
// with a zero EndsAt, as Alertmanager shows them.
func Data(tmpl *template.Template, b *dispatch.Batch, alerts []*dispatch.Alert) *template.Data {
	as := make([]*alert.Alert, len(alerts))
	for i, a := range alerts {
		m := model.Alert{
			Labels:       a.Labels,
			Annotations:  a.Annotations,
			StartsAt:     a.StartsAt,
			EndsAt:       a.EndsAt,
			GeneratorURL: a.GeneratorURL,
		}
		as[i] = alert.New(m, a.UpdatedAt, a.Timeout)
	}
	d := tmpl.Data(b.Receiver, b.GroupLabels, nil, b.Reason.String(), as...)
	// Alertmanager hides the end of alerts that are still firing; decide
	// by the flush time rather than the wall clock, so that the status
	// agrees with the dedup decision.
	status := model.AlertResolved
	for i, a := range alerts {
		if a.ResolvedAt(b.Now) {
			d.Alerts[i].Status = string(model.AlertResolved)
			d.Alerts[i].EndsAt = a.EndsAt
			continue
		}
		status = model.AlertFiring
		d.Alerts[i].Status = string(model.AlertFiring)
		d.Alerts[i].EndsAt = time.Time{}
	}
	d.Status = string(status)
	return d
}
