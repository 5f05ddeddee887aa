package notifiers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"

	"github.com/prometheus/alertmanager/template"
	commoncfg "github.com/prometheus/common/config"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

// Options are what every integration shares.
type Options struct {
	Template  *template.Template
	UserAgent string
	// SlackMessages keeps, across reloads, the first message of each
	// group that Slack integrations with update_message edit; nil: each
	// Build starts afresh.
	SlackMessages *SlackMemory
	// Logger is given to Alertmanager's notifiers (PagerDuty, Opsgenie,
	// ...), which log a few things of their own; nil discards it.
	Logger *slog.Logger
}

// SlackMemory holds one SlackMessages per Slack integration, by receiver
// and index, for as long as the process runs.
type SlackMemory struct {
	mu sync.Mutex
	m  map[string]*SlackMessages
}

// For returns the messages of the integration named key, creating them.
func (s *SlackMemory) For(key string) *SlackMessages {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*SlackMessages{}
	}
	m := s.m[key]
	if m == nil {
		m = NewSlackMessages(DefaultSlackMessages)
		s.m[key] = m
	}
	return m
}

// LoadTemplate parses Alertmanager's default templates and the files of
// routing.Templates; externalURL is what .ExternalURL gives.
func LoadTemplate(routing *config.Routing, externalURL string) (*template.Template, error) {
	t, err := template.FromGlobs(routing.Templates)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	// Alertmanager's template.Data reads ExternalURL unconditionally.
	t.ExternalURL = &url.URL{}
	if externalURL != "" {
		u, err := config.ParseExternalURL(externalURL)
		if err != nil {
			return nil, err
		}
		t.ExternalURL = u
	}
	return t, nil
}

// Build returns the integrations of every receiver, by receiver name:
// alerter's own email, Slack and webhook integrations and Alertmanager's
// notifiers for every other kind.
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
		for i, ec := range r.EmailConfigs {
			ins = append(ins, dispatch.Integration{
				Kind: "email", Index: i, SendResolved: ec.SendResolved,
				Notifier: NewEmail(ec, o.Template),
			})
		}
		for i, sc := range r.SlackConfigs {
			client, err := commoncfg.NewClientFromConfig(sc.HTTPConfig, "slack")
			if err != nil {
				errs = append(errs, fmt.Errorf("receiver %q: slack_configs %d: %w", r.Name, i, err))
				continue
			}
			opts := []SlackOption{WithSlackUserAgent(o.UserAgent)}
			if o.SlackMessages != nil {
				opts = append(opts, WithSlackMessages(o.SlackMessages.For(fmt.Sprintf("%s/slack/%d", r.Name, i))))
			}
			ins = append(ins, dispatch.Integration{
				Kind: "slack", Index: i, SendResolved: sc.SendResolved,
				Notifier: NewSlack(sc, o.Template, client, opts...),
			})
		}
		up, err := buildUpstream(r, o.Template, o)
		if err != nil {
			errs = append(errs, err)
		}
		out[r.Name] = append(ins, up...)
	}
	return out, errors.Join(errs...)
}
