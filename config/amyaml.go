package config

import (
	"fmt"
	"maps"
	"slices"

	amconfig "github.com/prometheus/alertmanager/config"
	"go.yaml.in/yaml/v3"
)

// AlertmanagerYAML returns the Alertmanager sections of the configuration
// (the Alertmanager globals, route, receivers, inhibit_rules,
// time_intervals, mute_time_intervals, templates) as Alertmanager shows its
// configuration in /api/v2/status and `amtool config show` prints it: decoded
// into Alertmanager's own types, with its defaults filled in, and marshalled
// back. Secrets are hidden by their type, as in Alertmanager (a Secret or
// SecretURL shows as <secret>, the password of a URL such as proxy_url as
// xxxxx), so that no field holding a secret is missed, whatever its key.
//
// It is "" without a route. A configuration that Alertmanager's types do
// not take (none that Parse accepts should be) is not shown: its error may
// quote a value, so it is replaced by a comment.
func (c *Config) AlertmanagerYAML() string {
	if !c.HasRoute() {
		return ""
	}
	raw, err := yaml.Marshal(c.alertmanagerSections())
	if err != nil {
		return "# the configuration cannot be shown\n"
	}
	am, err := amconfig.Load(string(raw))
	if err != nil {
		return "# the configuration cannot be shown in Alertmanager's form\n"
	}
	return am.String()
}

// alertmanagerSections returns the Alertmanager sections as one YAML
// mapping, as written (aliases resolved by the encoder).
func (c *Config) alertmanagerSections() *yaml.Node {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, n *yaml.Node) {
		if n == nil || n.Kind == 0 {
			return
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, n)
	}
	if len(c.Global.Alertmanager) > 0 {
		add("global", mappingOf(c.Global.Alertmanager))
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
	return doc
}

// mappingOf returns m as a YAML mapping, its keys sorted.
func mappingOf(m map[string]yaml.Node) *yaml.Node {
	g := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		n := m[k]
		g.Content = append(g.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &n)
	}
	return g
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
