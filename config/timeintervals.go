package config

import (
	"fmt"

	"github.com/prometheus/alertmanager/timeinterval"
	"go.yaml.in/yaml/v3"
)

// timeIntervals decodes mute_time_intervals (Alertmanager's older name)
// and time_intervals into one map by name. A name is defined once across
// both, as in Alertmanager, which reads mute_time_intervals first.
func (d *nodeDecoder) timeIntervals(mute, current *yaml.Node) map[string][]timeinterval.TimeInterval {
	out := map[string][]timeinterval.TimeInterval{}
	firstLine := map[string]int{}
	sections := []struct {
		n          *yaml.Node
		key, label string
	}{
		{mute, "mute_time_intervals", "mute time interval"},
		{current, "time_intervals", "time interval"},
	}
	for _, sec := range sections {
		for i, it := range d.items(sec.n, sec.key) {
			what := fmt.Sprintf("%s[%d]", sec.key, i)
			var name string
			nameNode := it
			var intervals []timeinterval.TimeInterval
			d.fields(it, what, func(key string, v *yaml.Node) bool {
				switch key {
				case "name":
					name, _ = d.str(v, what+": name")
					nameNode = v
				case "time_intervals":
					if !isNull(v) {
						d.strict(v, what+": time_intervals", &intervals)
					}
				default:
					return false
				}
				return true
			})
			if name == "" {
				d.errorf(it, "%s: missing name in %s", what, sec.label)
				continue
			}
			if line, dup := firstLine[name]; dup {
				d.errorf(nameNode, "%s %q is not unique (first defined at line %d)", sec.label, name, line)
				continue
			}
			firstLine[name] = nameNode.Line
			out[name] = intervals
		}
	}
	return out
}
