package rules

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/template"
	"go.yaml.in/yaml/v3"
)

// promqlParser parses expressions with Prometheus' default options, the
// ones promtool check rules uses.
var promqlParser = parser.NewParser(parser.Options{})

// ParseExpr parses a PromQL expression as rule validation does.
func ParseExpr(expr string) (parser.Expr, error) {
	return promqlParser.ParseExpr(expr)
}

// validateRule applies promtool's checks to one rule. n is the rule's node,
// fields its keys, for positions.
func (p *fileParser) validateRule(r Rule, n *yaml.Node, fields map[string]field, s scope) {
	at := func(name string) *yaml.Node {
		if f, ok := fields[name]; ok {
			return f.key
		}
		return n
	}
	switch {
	case r.Record != "" && r.Alert != "":
		p.errorf(at("record"), s, "only one of 'record' and 'alert' must be set")
	case r.Record == "" && r.Alert == "":
		p.errorf(n, s, "one of 'record' or 'alert' must be set")
	}
	if r.Expr == "" {
		p.errorf(at("expr"), s, "field 'expr' must be set in rule")
	} else if _, err := ParseExpr(r.Expr); err != nil {
		p.errorf(fields["expr"].value, s, "could not parse expression: %v", err)
	}
	if r.Record != "" {
		p.validateRecording(r, at, s)
	}
	if r.Alert == "" {
		return
	}
	for _, kind := range []string{"labels", "annotations"} {
		m := r.Labels
		if kind == "annotations" {
			m = r.Annotations
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if err := ParseTemplate(r.Alert, m[k]); err != nil {
				p.errorf(lookup(fields[kind].value, k), s, "%s %q: %v", strings.TrimSuffix(kind, "s"), k, err)
			}
		}
	}
}

func (p *fileParser) validateRecording(r Rule, at func(string) *yaml.Node, s scope) {
	if len(r.Annotations) > 0 {
		p.errorf(at("annotations"), s, "invalid field 'annotations' in recording rule")
	}
	if r.For != 0 {
		p.errorf(at("for"), s, "invalid field 'for' in recording rule")
	}
	if r.KeepFiringFor != 0 {
		p.errorf(at("keep_firing_for"), s, "invalid field 'keep_firing_for' in recording rule")
	}
	if !model.UTF8Validation.IsValidMetricName(r.Record) {
		p.errorf(at("record"), s, "invalid recording rule name: %s", r.Record)
	}
	// A valid UTF-8 name, but most likely PromQL put in the wrong field.
	if strings.ContainsAny(r.Record, "{}") {
		p.errorf(at("record"), s, "braces present in the recording rule name; should it be in expr?: %s", r.Record)
	}
}

// templateDefs are the variables Prometheus defines ahead of every label and
// annotation template of an alerting rule.
const templateDefs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"

// ParseTemplate checks that text parses as a label or annotation template of
// the alerting rule alert, exactly as Prometheus parses it.
func ParseTemplate(alert, text string) error {
	if !strings.Contains(text, "{{") {
		return nil
	}
	data := template.AlertTemplateData(map[string]string{}, map[string]string{}, "", promql.Sample{})
	return template.NewTemplateExpander(context.Background(), templateDefs+text, "__alert_"+alert,
		data, model.Time(time.Now().UnixMilli()), nil, nil, nil).ParseTest()
}

// Describe returns a short human description of where a rule is, for logs.
func (r Rule) Describe(group string, index int) string {
	return fmt.Sprintf("group %q, rule %d (%q)", group, index, r.Name())
}
