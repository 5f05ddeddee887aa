package config

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// secretKeys are the keys whose values Alertmanager shows as <secret>:
// passwords, tokens, keys and the URLs that carry credentials.
var secretKeys = map[string]bool{
	"password": true, "credentials": true, "bearer_token": true, "client_secret": true,
	"auth_password": true, "auth_secret": true, "smtp_auth_password": true, "smtp_auth_secret": true,
	"api_url": true, "url": true, "slack_api_url": true, "app_token": true, "slack_app_token": true,
	"routing_key": true, "service_key": true, "api_key": true, "api_secret": true, "token": true,
	"bot_token": true, "user_key": true, "webhook_url": true, "opsgenie_api_key": true,
	"victorops_api_key": true, "wechat_api_secret": true, "telegram_bot_token": true,
	"rocketchat_token": true, "rocketchat_token_id": true, "mattermost_webhook_url": true,
	"secret_key": true, "access_key": true,
}

// AlertmanagerYAML returns the Alertmanager sections of the configuration
// (the Alertmanager globals, route, receivers, inhibit_rules,
// time_intervals, mute_time_intervals, templates) as one YAML document with
// every secret replaced by <secret>: what Alertmanager's /api/v2/status
// shows as its configuration, and what `amtool config show` prints.
func (c *Config) AlertmanagerYAML() string {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, n *yaml.Node) {
		if n == nil || n.Kind == 0 {
			return
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, redacted(n))
	}
	if len(c.Global.Alertmanager) > 0 {
		g := &yaml.Node{Kind: yaml.MappingNode}
		keys := make([]string, 0, len(c.Global.Alertmanager))
		for k := range c.Global.Alertmanager {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			n := c.Global.Alertmanager[k]
			g.Content = append(g.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &n)
		}
		add("global", g)
	}
	add("route", &c.Route)
	add("inhibit_rules", &c.InhibitRules)
	add("receivers", &c.Receivers)
	add("time_intervals", &c.TimeIntervals)
	add("mute_time_intervals", &c.MuteTimeIntervals)
	if len(c.Templates) > 0 {
		t := &yaml.Node{Kind: yaml.SequenceNode}
		for _, p := range c.Templates {
			t.Content = append(t.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: p})
		}
		add("templates", t)
	}
	if len(doc.Content) == 0 {
		return ""
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return ""
	}
	return string(b)
}

// redacted returns a deep copy of n with the values of secret keys
// replaced. Aliases are resolved so that a secret cannot hide behind one.
func redacted(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return redacted(n.Alias)
	}
	c := *n
	c.Anchor = ""
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, ch := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 1 && secretKeys[n.Content[i-1].Value] && ch.Kind == yaml.ScalarNode {
			c.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Value: "<secret>"}
			continue
		}
		c.Content[i] = redacted(ch)
	}
	return &c
}

// maxExpandedNodes bounds the size of a section with its aliases expanded:
// far above any real configuration, far below what a "billion laughs"
// document of nested aliases expands to.
const maxExpandedNodes = 1 << 20

// checkAliases refuses, in the sections kept as YAML nodes, an alias to a
// node that contains it (which would make every walk endless) and aliases
// that expand to more than maxExpandedNodes nodes.
func (c *Config) checkAliases() error {
	roots := []*yaml.Node{&c.Route, &c.Receivers, &c.InhibitRules, &c.TimeIntervals, &c.MuteTimeIntervals}
	for _, n := range c.Global.Alertmanager {
		roots = append(roots, &n)
	}
	for _, r := range roots {
		count := 0
		if err := walkAliases(r, map[*yaml.Node]bool{}, &count); err != nil {
			return err
		}
	}
	return nil
}

func walkAliases(n *yaml.Node, onPath map[*yaml.Node]bool, count *int) error {
	*count++
	if *count > maxExpandedNodes {
		return fmt.Errorf("%d: aliases expand to more than %d nodes", n.Line, maxExpandedNodes)
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil
		}
		if onPath[n.Alias] {
			return fmt.Errorf("%d: alias *%s refers to a node that contains it", n.Line, n.Value)
		}
		onPath[n.Alias] = true
		defer delete(onPath, n.Alias)
		return walkAliases(n.Alias, onPath, count)
	}
	onPath[n] = true
	defer delete(onPath, n)
	for _, ch := range n.Content {
		if err := walkAliases(ch, onPath, count); err != nil {
			return err
		}
	}
	return nil
}
