package config

import (
	"fmt"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// inhibitRules decodes the inhibit_rules section. Each rule's source and
// target matchers join the deprecated *_match and *_match_re mappings with
// the *_matchers lists, as Alertmanager does.
func (d *nodeDecoder) inhibitRules(n *yaml.Node) []*InhibitRule {
	var out []*InhibitRule
	for i, it := range d.items(n, "inhibit_rules") {
		what := fmt.Sprintf("inhibit_rules[%d]", i)
		r := &InhibitRule{Line: deref(it).Line}
		// The matcher sections by key; decoded after the loop, so that the
		// order of keys does not matter.
		m := map[string]*yaml.Node{}
		d.fields(it, what, func(key string, v *yaml.Node) bool {
			field := what + ": " + key
			switch key {
			case "name":
				r.Name, _ = d.str(v, field)
			case "source_match", "source_match_re", "source_matchers",
				"target_match", "target_match_re", "target_matchers":
				m[key] = v
			case "equal":
				for _, e := range d.items(v, field) {
					s, ok := d.str(e, field)
					if !ok {
						continue
					}
					if !validLabelName(s) {
						d.errorf(e, "%s: invalid label name %q in equal list", field, s)
						continue
					}
					r.Equal = append(r.Equal, model.LabelName(s))
				}
			default:
				return false
			}
			return true
		})
		r.SourceMatchers = d.matchers(m["source_match"], m["source_match_re"], m["source_matchers"], what, "source_")
		r.TargetMatchers = d.matchers(m["target_match"], m["target_match_re"], m["target_matchers"], what, "target_")
		out = append(out, r)
	}
	return out
}
