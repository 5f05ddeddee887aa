package notifiers

import (
	"errors"
	"fmt"

	"github.com/prometheus/alertmanager/template"
	commoncfg "github.com/prometheus/common/config"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

// Options are what every integration shares.
type Options struct {
	Template  *template.Template
	UserAgent string
}

// LoadTemplate parses Alertmanager's default templates and the files of
// routing.Templates; externalURL is what .ExternalURL gives.
func LoadTemplate(routing *config.Routing, externalURL string) (*template.Template, error) {
	t, err := template.FromGlobs(routing.Templates)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if externalURL != "" {
		u, err := config.ParseExternalURL(externalURL)
		if err != nil {
			return nil, err
		}
		t.ExternalURL = u
	}
	return t, nil
}

// Build returns the integrations of every receiver, by receiver name. It
// fails for receivers with kinds alerter cannot deliver to yet.
func Build(routing *config.Routing, o Options) (map[string][]dispatch.Integration, error) {
	out := make(map[string][]dispatch.Integration, len(routing.Receivers))
	var errs []error
	for _, r := range routing.Receivers {
		var ins []dispatch.Integration
		for i, wc := range r.Webhook {
			client, err := commoncfg.NewClientFromConfig(wc.HTTPConfig, "webhook")
			if err != nil {
				errs = append(errs, fmt.Errorf("receiver %q: webhook_configs %d: %w", r.Name, i, err))
				continue
			}
			ins = append(ins, dispatch.Integration{
				Kind: "webhook", Index: i, SendResolved: wc.SendResolved,
				Notifier: NewWebhook(WebhookOptions{
					URL: wc.URL, Client: client, Template: o.Template, MaxAlerts: wc.MaxAlerts,
					Timeout: wc.Timeout, UserAgent: o.UserAgent,
				}),
			})
		}
		if len(r.Email) > 0 || len(r.Slack) > 0 {
			errs = append(errs, fmt.Errorf("receiver %q: email_configs and slack_configs are not delivered yet", r.Name))
		}
		out[r.Name] = ins
	}
	return out, errors.Join(errs...)
}
