package config

import (
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/timeinterval"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Alertmanager's defaults for the routing sections.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
	DefaultResolveTimeout = 5 * time.Minute
)

// Routing is the decoded, validated Alertmanager half of alerter.yml:
// route, receivers, inhibit_rules, time_intervals (and the older
// mute_time_intervals), templates and the Alertmanager globals they use.
// It is nil in a Config without a route.
type Routing struct {
	// ResolveTimeout is global.resolve_timeout: the EndsAt given to posted
	// alerts that carry none.
	ResolveTimeout time.Duration
	Route          *Route
	Receivers      []*Receiver
	InhibitRules   []*InhibitRule
	// TimeIntervals holds time_intervals and mute_time_intervals by name.
	TimeIntervals map[string][]timeinterval.TimeInterval
	// Templates are the template files the templates globs matched, resolved.
	Templates []string
	// HTTPConfig is global.http_config (Prometheus' defaults where not
	// set): the HTTP client settings of receivers that set none.
	HTTPConfig commoncfg.HTTPClientConfig

	// path is the config file.
	path string
}

// Route is one node of the routing tree, as written: fields that are not set
// are nil or empty and inherited from the parent by dispatch.
type Route struct {
	Receiver string
	// GroupBy is nil when group_by is not set (inherit), empty when it is
	// set to []; GroupByAll is group_by: ['...'].
	GroupBy    []model.LabelName
	GroupByAll bool
	// Matchers joins match, match_re and matchers, sorted.
	Matchers            labels.Matchers
	Continue            bool
	GroupWait           *time.Duration
	GroupInterval       *time.Duration
	RepeatInterval      *time.Duration
	MuteTimeIntervals   []string
	ActiveTimeIntervals []string
	Routes              []*Route
	// Line is where the route starts in the config file.
	Line int
}

// Receiver is a named set of integrations.
type Receiver struct {
	Name string
	// Labels are the receiver's labels (Alertmanager 0.35), including
	// "name", which is always the receiver's name.
	Labels  map[string]string
	Webhook []*WebhookConfig
	// Email and Slack hold the email_configs and slack_configs entries as
	// written, for the notifiers to decode.
	Email []yaml.Node
	Slack []yaml.Node
	// EmailConfigs and SlackConfigs are those entries decoded, with the
	// Alertmanager globals applied.
	EmailConfigs []*EmailConfig
	SlackConfigs []*SlackConfig
	// Upstream holds the entries of the kinds alerter delivers through
	// Alertmanager's notify packages (pagerduty_configs, opsgenie_configs,
	// ..., see upstreamKinds), decoded by Alertmanager's config package
	// with the globals applied; its email, Slack and webhook lists are
	// empty. nil when the receiver has none.
	Upstream *amconfig.Receiver
	Line     int

	node     *yaml.Node
	upstream []upstreamItem
}

// WebhookConfig is Alertmanager's webhook_configs entry.
type WebhookConfig struct {
	SendResolved bool
	// URL is the endpoint, from url or read from url_file at load time
	// (surrounding white space trimmed, as Alertmanager does); it is a
	// secret: never logged or shown. Since Alertmanager 0.35 it may be a Go
	// template, expanded per notification.
	URL string
	// URLFile is url_file resolved against the config's folder, or "".
	// Alertmanager reads it on each notification; alerter reads it when the
	// config is loaded, so a changed file takes effect on reload.
	URLFile    string
	HTTPConfig commoncfg.HTTPClientConfig
	// MaxAlerts caps the alerts in one message; 0 means all.
	MaxAlerts int
	// Timeout bounds one request; 0 means the flush deadline only.
	Timeout time.Duration
	Line    int
}

// InhibitRule mutes alerts matching TargetMatchers while an alert matching
// SourceMatchers fires with the same values of the Equal labels.
type InhibitRule struct {
	// Name is the optional name (Alertmanager 0.35).
	Name           string
	SourceMatchers labels.Matchers
	TargetMatchers labels.Matchers
	Equal          []model.LabelName
	Line           int
}
