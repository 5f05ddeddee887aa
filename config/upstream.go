package config

import (
	"fmt"
	"reflect"
	"strings"

	amconfig "github.com/prometheus/alertmanager/config"
	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// upstreamKinds are the integrations alerter delivers through
// Alertmanager's own notify packages: decoded, defaulted from the globals
// and validated by Alertmanager's config package, sent by its notifiers.
// Email, Slack and webhook are alerter's own.
var upstreamKinds = []string{
	"discord_configs", "incidentio_configs", "jira_configs", "mattermost_configs",
	"msteams_configs", "msteamsv2_configs", "opsgenie_configs", "pagerduty_configs",
	"pushover_configs", "rocketchat_configs", "sns_configs", "telegram_configs",
	"victorops_configs", "webex_configs", "wechat_configs",
}

// upstreamItem is one entry of an upstream kind's list, as written.
type upstreamItem struct {
	key   string
	index int // in its list
	node  *yaml.Node
}

// decodeUpstream gives each receiver with upstream kinds its
// Alertmanager receiver: the entries decoded by Alertmanager's config
// types with the globals applied (pagerduty_url, opsgenie_api_key, ...,
// http_config), exactly as Alertmanager loads them. A receiver
// Alertmanager refuses is reported at the entry it refuses, with its
// error.
func (d *nodeDecoder) decodeUpstream(globals map[string]yaml.Node, rcvs []*Receiver) {
	var with []*Receiver
	for _, r := range rcvs {
		if len(r.upstream) > 0 {
			with = append(with, r)
		}
	}
	if len(with) == 0 {
		return
	}
	// One load for all; only when it fails, one per receiver and then one
	// per entry, to say where.
	if cfg, err := d.loadUpstream(globals, with); err == nil {
		for i, r := range with {
			r.Upstream = &cfg.Receivers[i]
		}
		return
	}
	for _, r := range with {
		cfg, err := d.loadUpstream(globals, []*Receiver{r})
		if err == nil {
			r.Upstream = &cfg.Receivers[0]
			continue
		}
		at := r.node
		for _, it := range r.upstream {
			one := &Receiver{Name: r.Name, upstream: []upstreamItem{it}}
			if _, e := d.loadUpstream(globals, []*Receiver{one}); e != nil {
				at, err = it.node, fmt.Errorf("%s[%d]: %w", it.key, it.index, e)
				break
			}
		}
		d.errorf(at, "receiver %q: %v", r.Name, cleanUpstreamError(err))
	}
}

// loadUpstream loads, with Alertmanager's config package, a configuration
// of the globals, the upstream entries of rcvs and a route to the first.
func (d *nodeDecoder) loadUpstream(globals map[string]yaml.Node, rcvs []*Receiver) (*amconfig.Config, error) {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	add := func(m *yaml.Node, key string, v *yaml.Node) {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	}
	if len(globals) > 0 {
		add(doc, "global", mappingOf(globals))
	}
	route := &yaml.Node{Kind: yaml.MappingNode}
	add(route, "receiver", &yaml.Node{Kind: yaml.ScalarNode, Value: rcvs[0].Name, Style: yaml.DoubleQuotedStyle})
	add(doc, "route", route)
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range rcvs {
		m := &yaml.Node{Kind: yaml.MappingNode}
		add(m, "name", &yaml.Node{Kind: yaml.ScalarNode, Value: r.Name, Style: yaml.DoubleQuotedStyle})
		var keys []string
		items := map[string]*yaml.Node{}
		for _, it := range r.upstream {
			seq := items[it.key]
			if seq == nil {
				seq = &yaml.Node{Kind: yaml.SequenceNode}
				items[it.key] = seq
				keys = append(keys, it.key)
			}
			seq.Content = append(seq.Content, it.node)
		}
		for _, k := range keys {
			add(m, k, items[k])
		}
		list.Content = append(list.Content, m)
	}
	add(doc, "receivers", list)
	raw, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	cfg, err := amconfig.Load(string(raw))
	if err != nil {
		return nil, err
	}
	// As Alertmanager's LoadFile: HTTP client files (CA, certificates,
	// password and bearer token files) are relative to the config file.
	for i := range cfg.Receivers {
		setHTTPDirectories(&cfg.Receivers[i], d.dir)
	}
	return cfg, nil
}

var httpConfigType = reflect.TypeFor[*commoncfg.HTTPClientConfig]()

// setHTTPDirectories sets dir on the http_config of every entry of r, of
// whatever kind.
func setHTTPDirectories(r *amconfig.Receiver, dir string) {
	v := reflect.ValueOf(r).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Slice {
			continue
		}
		for j := range f.Len() {
			e := f.Index(j)
			if e.Kind() != reflect.Pointer || e.IsNil() || e.Elem().Kind() != reflect.Struct {
				continue
			}
			h := e.Elem().FieldByName("HTTPConfig")
			if h.IsValid() && h.Type() == httpConfigType && !h.IsNil() {
				h.Interface().(*commoncfg.HTTPClientConfig).SetDirectory(dir)
			}
		}
	}
}

// cleanUpstreamError drops what Alertmanager's YAML decoder adds about
// its own types and the generated document's lines, which mean nothing to
// the user.
func cleanUpstreamError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	s = strings.ReplaceAll(s, "\n", "; ")
	return strings.TrimSpace(s)
}
