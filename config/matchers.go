package config

import (
	"log/slog"
	"regexp"
	"sort"

	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// parseMatchers parses one entry of a matchers list as an Alertmanager
// 0.35 server does by default (neither classic-mode nor utf8-strict-mode
// enabled): with the UTF-8 parser, falling back to the classic parser of
// Alertmanager <= 0.26 where only that one accepts the input, and taking
// the classic result where the two disagree. The compat package's own
// default (before InitFromFlags) is the classic parser alone; calling
// InitFromFlags would change a package-level variable, so the parser is
// built here instead. It is never reassigned.
var parseMatchers = compat.FallbackMatchersParser(slog.New(slog.DiscardHandler))

// validLabelName reports whether name is a label name Alertmanager 0.35
// accepts in group_by and equal: any non-empty UTF-8 string.
func validLabelName(name string) bool {
	return model.UTF8Validation.IsValidLabelName(name)
}

// matchers decodes a section's matchers: the deprecated match (label to
// value) and match_re (label to regular expression) mappings, and the
// matchers list, joined and sorted as Alertmanager does. Any of the nodes
// may be nil. prefix is "" for routes, "source_" or "target_" for
// inhibition rules.
func (d *nodeDecoder) matchers(match, matchRE, list *yaml.Node, what, prefix string) labels.Matchers {
	var ms labels.Matchers
	add := func(n *yaml.Node, t labels.MatchType, name, value string) {
		m, err := labels.NewMatcher(t, name, value)
		if err != nil {
			d.errorf(n, "%s: %v", what, err)
			return
		}
		ms = append(ms, m)
	}
	if match != nil {
		field := what + ": " + prefix + "match"
		d.strMap(match, field, func(k, v *yaml.Node, key, value string) {
			if !model.LegacyValidation.IsValidLabelName(key) {
				d.errorf(k, "%s: invalid label name %q", field, key)
				return
			}
			add(v, labels.MatchEqual, key, value)
		})
	}
	if matchRE != nil {
		field := what + ": " + prefix + "match_re"
		d.strMap(matchRE, field, func(k, v *yaml.Node, key, value string) {
			if !model.LegacyValidation.IsValidLabelName(key) {
				d.errorf(k, "%s: invalid label name %q", field, key)
				return
			}
			if isNull(v) {
				d.errorf(v, "%s: invalid regexp value for %q", field, key)
				return
			}
			// Anchored, and kept anchored in the matcher's value, as
			// Alertmanager does: routes show {a=~"^(?:x|y)$"}.
			re, err := regexp.Compile("^(?:" + value + ")$")
			if err != nil {
				d.errorf(v, "%s: %q: %v", field, key, err)
				return
			}
			add(v, labels.MatchRegexp, key, re.String())
		})
	}
	if list != nil {
		field := what + ": " + prefix + "matchers"
		for _, it := range d.items(list, field) {
			s, ok := d.str(it, field)
			if !ok {
				continue
			}
			pm, err := parseMatchers(s, "config")
			if err != nil {
				d.errorf(it, "%s: %v", field, err)
				continue
			}
			ms = append(ms, pm...)
		}
	}
	sort.Sort(ms)
	return ms
}
