package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// ParseFile reads and parses the rule file at path.
func ParseFile(path string) (*File, []error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{&Error{File: path, Err: err}}
	}
	return Parse(path, b)
}

// Parse parses and validates the content of a rule file. path is only used
// in errors. It returns every problem it finds; the File is nil when there
// is at least one.
//
// Only the first YAML document is read, as Prometheus does. Unknown fields
// are errors, except the extensions schedule and datasource on a group.
func Parse(path string, content []byte) (*File, []error) {
	p := &fileParser{path: path, file: &File{Path: path}}
	var doc yaml.Node
	err := yaml.NewDecoder(bytes.NewReader(content)).Decode(&doc)
	switch {
	case errors.Is(err, io.EOF):
		return p.file, nil // an empty file holds no groups
	case err != nil:
		return nil, []error{&Error{File: path, Err: err}}
	}
	p.document(&doc)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.file, nil
}

// fileParser walks one file's YAML tree, collecting values and errors.
type fileParser struct {
	path string
	file *File
	errs []error
}

// scope says which group and rule an error belongs to.
type scope struct {
	group    string
	rule     int
	ruleName string
}

func (p *fileParser) errorf(n *yaml.Node, s scope, format string, args ...any) {
	e := &Error{File: p.path, Group: s.group, Rule: s.rule, RuleName: s.ruleName, Err: fmt.Errorf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

func (p *fileParser) document(doc *yaml.Node) {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return
	}
	fields, ok := p.mapping(root, scope{}, "rule file", []string{"groups"})
	if !ok {
		return
	}
	groups, ok := fields["groups"]
	if !ok || isNull(groups.value) {
		return
	}
	list := resolve(groups.value)
	if list.Kind != yaml.SequenceNode {
		p.errorf(list, scope{}, "groups: expected a list of rule groups, got %s", kindName(list))
		return
	}
	seen := map[string]bool{}
	for _, gn := range list.Content {
		g, ok := p.group(gn)
		if g.Name != "" && seen[g.Name] {
			p.errorf(gn, scope{}, "groupname: %q is repeated in the same file", g.Name)
		}
		seen[g.Name] = true
		if ok {
			p.file.Groups = append(p.file.Groups, g)
		}
	}
}

// field is one key of a mapping node with its value.
type field struct {
	key, value *yaml.Node
}

// mapping checks that n is a mapping whose keys are all in allowed and not
// repeated, and returns its fields by key.
func (p *fileParser) mapping(n *yaml.Node, s scope, what string, allowed []string) (map[string]field, bool) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, s, "expected a mapping, got %s", kindName(n))
		return nil, false
	}
	explicit, merged := pairs(n)
	fields := make(map[string]field, len(explicit)+len(merged))
	ok := true
	for _, f := range explicit {
		name := f.key.Value
		if !slices.Contains(allowed, name) {
			p.errorf(f.key, s, "field %s not found in %s", name, what)
			ok = false
			continue
		}
		if prev, dup := fields[name]; dup {
			p.errorf(f.key, s, "mapping key %q already defined at line %d", name, prev.key.Line)
			ok = false
			continue
		}
		fields[name] = f
	}
	for _, f := range merged {
		name := f.key.Value
		if _, set := fields[name]; set {
			continue // explicit keys and earlier merges win
		}
		if !slices.Contains(allowed, name) {
			p.errorf(f.key, s, "field %s not found in %s", name, what)
			ok = false
			continue
		}
		fields[name] = f
	}
	return fields, ok
}

// resolve follows YAML aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// pairs returns the key/value pairs of mapping n: those written in it, and
// those it takes from merge keys (<<: *anchor, or a list of anchors).
func pairs(n *yaml.Node) (explicit, merged []field) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Value != "<<" || k.Tag != "!!merge" {
			explicit = append(explicit, field{key: k, value: n.Content[i+1]})
			continue
		}
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, src := range sources {
			e, m := pairs(src)
			merged = append(append(merged, e...), m...)
		}
	}
	return explicit, merged
}

// lookup returns the value of key k in mapping n, following merges.
func lookup(n *yaml.Node, k string) *yaml.Node {
	if f, ok := find(n, k); ok {
		return f.value
	}
	return nil
}

// keyNode returns the key node of k in mapping n (for its position), or n
// itself when k is not there.
func keyNode(n *yaml.Node, k string) *yaml.Node {
	if f, ok := find(n, k); ok {
		return f.key
	}
	return n
}

func find(n *yaml.Node, k string) (field, bool) {
	explicit, merged := pairs(n)
	for _, f := range append(explicit, merged...) {
		if f.key.Value == k {
			return f, true
		}
	}
	return field{}, false
}

var groupFields = []string{"name", "interval", "query_offset", "limit", "rules", "labels", "schedule", "datasource"}

func (p *fileParser) group(n *yaml.Node) (RuleGroup, bool) {
	g := RuleGroup{Pos: Position{n.Line, n.Column}}
	// The name is needed in every other message, so read it first.
	if v := lookup(n, "name"); v != nil {
		_ = v.Decode(&g.Name)
	}
	s := scope{group: g.Name}
	before := len(p.errs)
	fields, _ := p.mapping(n, s, "rule group", groupFields)
	if fields == nil {
		return g, false
	}
	if f, ok := fields["name"]; ok {
		p.decode(f.value, s, "name", &g.Name)
	}
	if g.Name == "" {
		p.errorf(n, s, "Groupname must not be empty")
	}
	if f, ok := fields["interval"]; ok {
		g.Interval = p.duration(f.value, s, "interval")
	}
	if f, ok := fields["query_offset"]; ok && !isNull(f.value) {
		d := p.duration(f.value, s, "query_offset")
		g.QueryOffset = &d
	}
	if f, ok := fields["limit"]; ok {
		p.decode(f.value, s, "limit", &g.Limit)
		if g.Limit < 0 {
			p.errorf(f.value, s, "limit must not be negative")
		}
	}
	if f, ok := fields["labels"]; ok {
		g.Labels = p.labels(f.value, s, "label")
	}
	if f, ok := fields["datasource"]; ok {
		p.decode(f.value, s, "datasource", &g.Datasource)
	}
	if f, ok := fields["schedule"]; ok {
		p.decode(f.value, s, "schedule", &g.Schedule)
		p.schedule(g, f, fields, s)
	}
	if f, ok := fields["rules"]; ok && !isNull(f.value) {
		if list := resolve(f.value); list.Kind != yaml.SequenceNode {
			p.errorf(list, s, "rules: expected a list of rules, got %s", kindName(list))
		} else {
			for i, rn := range list.Content {
				g.Rules = append(g.Rules, p.rule(rn, g.Name, i+1))
			}
		}
	}
	return g, len(p.errs) == before
}

// schedule validates a group's cron schedule and its exclusion with interval.
func (p *fileParser) schedule(g RuleGroup, f field, fields map[string]field, s scope) {
	if _, both := fields["interval"]; both {
		p.errorf(f.key, s, "schedule and interval are mutually exclusive")
	}
	if g.Schedule == "" {
		p.errorf(f.value, s, "schedule must not be empty")
		return
	}
	if _, err := ParseSchedule(g.Schedule); err != nil {
		p.errorf(f.value, s, "invalid schedule %q: %v", g.Schedule, err)
	}
}

var ruleFields = []string{"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}

func (p *fileParser) rule(n *yaml.Node, group string, index int) Rule {
	r := Rule{Pos: Position{n.Line, n.Column}}
	s := scope{group: group, rule: index}
	if v := lookup(n, "alert"); v != nil {
		_ = v.Decode(&r.Alert)
	}
	if v := lookup(n, "record"); v != nil {
		_ = v.Decode(&r.Record)
	}
	s.ruleName = r.Name()
	fields, _ := p.mapping(n, s, "rule", ruleFields)
	if fields == nil {
		return r
	}
	for name, dst := range map[string]*string{"alert": &r.Alert, "record": &r.Record, "expr": &r.Expr} {
		if f, ok := fields[name]; ok {
			p.decode(f.value, s, name, dst)
		}
	}
	if f, ok := fields["for"]; ok {
		r.For = p.duration(f.value, s, "for")
	}
	if f, ok := fields["keep_firing_for"]; ok {
		r.KeepFiringFor = p.duration(f.value, s, "keep_firing_for")
	}
	if f, ok := fields["labels"]; ok {
		r.Labels = p.labels(f.value, s, "label")
	}
	if f, ok := fields["annotations"]; ok {
		r.Annotations = p.labels(f.value, s, "annotation")
	}
	p.validateRule(r, n, fields, s)
	return r
}

// decode decodes a scalar or mapping into dst with YAML's own rules (so
// that `limit: "5"` fails exactly as it does for promtool).
func (p *fileParser) decode(n *yaml.Node, s scope, name string, dst any) bool {
	if err := n.Decode(dst); err != nil {
		p.errorf(n, s, "%s: %v", name, yamlMessage(err))
		return false
	}
	return true
}

func (p *fileParser) duration(n *yaml.Node, s scope, name string) time.Duration {
	var str string
	if isNull(n) || !p.decode(n, s, name, &str) {
		return 0
	}
	d, err := model.ParseDuration(str)
	if err != nil {
		p.errorf(n, s, "%s: %v", name, err)
		return 0
	}
	return time.Duration(d)
}

// labels decodes a string map (labels or annotations) and checks the names
// and values the way Prometheus does.
func (p *fileParser) labels(n *yaml.Node, s scope, kind string) map[string]string {
	if isNull(n) {
		return nil
	}
	m := map[string]string{}
	if !p.decode(n, s, kind+"s", &m) {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		value := m[name]
		at := keyNode(n, name)
		if !model.UTF8Validation.IsValidLabelName(name) || (kind == "label" && name == model.MetricNameLabel) {
			p.errorf(at, s, "invalid %s name: %s", kind, name)
		}
		if kind == "label" && !model.LabelValue(value).IsValid() {
			p.errorf(at, s, "invalid label value: %s", value)
		}
	}
	return m
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	default:
		return "a document"
	}
}

// yamlMessage strips the "yaml: unmarshal errors:" framing of yaml.v3's
// type errors, which repeat the line we already print.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) == 1 {
		return trimLinePrefix(te.Errors[0])
	}
	return err.Error()
}

func trimLinePrefix(s string) string {
	if strings.HasPrefix(s, "line ") {
		if _, rest, ok := strings.Cut(s, ": "); ok {
			return rest
		}
	}
	return s
}
