package config

import (
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// decodeRouting decodes and checks the Alertmanager sections of c: the
// globals they use, time_intervals, receivers, inhibit_rules, route and
// templates. The Routing is nil when c has no route; the other sections
// are checked all the same. Every problem is returned, with its line.
func (c *Config) decodeRouting() (*Routing, []error) {
	d := &nodeDecoder{dir: c.Dir}
	r := &Routing{path: c.Path, ResolveTimeout: DefaultResolveTimeout}
	d.globals(c.Global.Alertmanager, r)
	r.TimeIntervals = d.timeIntervals(&c.MuteTimeIntervals, &c.TimeIntervals)
	r.Receivers = d.receivers(&c.Receivers, c.Global.Alertmanager, r.HTTPConfig)
	d.decodeUpstream(c.Global.Alertmanager, r.Receivers)
	r.InhibitRules = d.inhibitRules(&c.InhibitRules)
	if !c.HasRoute() {
		return nil, d.errs
	}
	names := make(map[string]bool, len(r.Receivers))
	for _, rcv := range r.Receivers {
		names[rcv.Name] = true
	}
	r.Route = d.rootRoute(&c.Route, names, r.TimeIntervals)
	// Bad patterns are reported by Config.validate.
	if templates, err := expand(c.Dir, c.Templates); err == nil {
		r.Templates = templates
	}
	return r, d.errs
}

// exclusiveGlobals are Alertmanager's globals that come in a value and a
// file form, of which at most one may be set.
var exclusiveGlobals = [][2]string{
	{"slack_app_token", "slack_app_token_file"},
	{"slack_api_url", "slack_api_url_file"},
	{"opsgenie_api_key", "opsgenie_api_key_file"},
	{"victorops_api_key", "victorops_api_key_file"},
	{"telegram_bot_token", "telegram_bot_token_file"},
	{"smtp_auth_password", "smtp_auth_password_file"},
	{"rocketchat_token", "rocketchat_token_file"},
	{"rocketchat_token_id", "rocketchat_token_id_file"},
	{"smtp_auth_secret", "smtp_auth_secret_file"},
	{"wechat_api_secret", "wechat_api_secret_file"},
	{"mattermost_webhook_url", "mattermost_webhook_url_file"},
}

// slackPostMessageURL is Alertmanager's default slack_app_url.
const slackPostMessageURL = "https://slack.com/api/chat.postMessage"

// globals decodes the Alertmanager globals the routing half needs now
// (resolve_timeout, http_config) and checks the value-or-file pairs, as
// Alertmanager's Config.UnmarshalYAML does. The others (smtp_*,
// slack_api_url, ...) are read by the notifiers.
func (d *nodeDecoder) globals(g map[string]yaml.Node, r *Routing) {
	r.HTTPConfig = commoncfg.DefaultHTTPClientConfig
	if n, ok := g["resolve_timeout"]; ok && !isNull(&n) {
		if s, ok := d.str(&n, "global: resolve_timeout"); ok {
			if v, err := model.ParseDuration(s); err != nil {
				d.errorf(&n, "global: resolve_timeout: %v", err)
			} else {
				r.ResolveTimeout = time.Duration(v)
			}
		}
	}
	if n, ok := g["http_config"]; ok && !isNull(&n) {
		if d.strict(&n, "global: http_config", &r.HTTPConfig) {
			r.HTTPConfig.SetDirectory(d.dir)
		}
	}
	set := func(key string) *yaml.Node {
		n, ok := g[key]
		if !ok || isNull(&n) || (n.Kind == yaml.ScalarNode && n.Value == "") {
			return nil
		}
		return &n
	}
	for _, p := range exclusiveGlobals {
		if set(p[0]) != nil && set(p[1]) != nil {
			d.errorf(set(p[1]), "global: at most one of %s & %s must be configured", p[0], p[1])
		}
	}
	token := set("slack_app_token")
	if token == nil {
		token = set("slack_app_token_file")
	}
	apiURL := set("slack_api_url")
	if token != nil && (apiURL != nil || set("slack_api_url_file") != nil) {
		// Alertmanager lets slack_api_url stay when it equals slack_app_url
		// (the workaround of its issue #2513).
		appURL := slackPostMessageURL
		if n := set("slack_app_url"); n != nil {
			appURL = n.Value
		}
		if apiURL == nil || apiURL.Value != appURL {
			d.errorf(token, "global: at most one of slack_app_token/slack_app_token_file & slack_api_url/slack_api_url_file must be configured")
		}
	}
}
