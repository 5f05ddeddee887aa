package config

import (
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// routeDecoder decodes the routing tree, checking the names it uses
// against the receivers and time intervals defined.
type routeDecoder struct {
	*nodeDecoder
	receivers map[string]bool
	intervals map[string][]timeinterval.TimeInterval
}

// rootRoute decodes the route section and checks what Alertmanager
// requires of the root, the fallback for every alert: a receiver, and no
// matchers, continue or time intervals.
func (d *nodeDecoder) rootRoute(n *yaml.Node, receivers map[string]bool, intervals map[string][]timeinterval.TimeInterval) *Route {
	rd := &routeDecoder{nodeDecoder: d, receivers: receivers, intervals: intervals}
	r := rd.route(n, "route")
	if r == nil {
		return nil
	}
	if r.Receiver == "" {
		d.errorf(keyNode(n, "receiver"), "route: root route must specify a default receiver")
	}
	if len(r.Matchers) > 0 {
		d.errorf(keyNode(n, "matchers", "match", "match_re"), "route: root route must not have any matchers")
	}
	if r.Continue {
		d.errorf(keyNode(n, "continue"), "route: cannot have continue in root route")
	}
	if len(r.MuteTimeIntervals) > 0 {
		d.errorf(keyNode(n, "mute_time_intervals"), "route: root route must not have any mute time intervals")
	}
	if len(r.ActiveTimeIntervals) > 0 {
		d.errorf(keyNode(n, "active_time_intervals"), "route: root route must not have any active time intervals")
	}
	return r
}

// keyNode returns the key node of the first of keys that the mapping n
// has, or n itself.
func keyNode(n *yaml.Node, keys ...string) *yaml.Node {
	for _, key := range keys {
		if k, _ := lookup(n, key); k != nil {
			return k
		}
	}
	return n
}

// lookup returns the key and value nodes of key in the mapping n (merge
// keys not followed), or nils.
func lookup(n *yaml.Node, key string) (k, v *yaml.Node) {
	m := deref(n)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// route decodes one node of the tree and the nodes below it; what names it
// in errors ("route.routes[2]").
func (rd *routeDecoder) route(n *yaml.Node, what string) *Route {
	if isNull(n) {
		rd.errorf(n, "%s: missing route", what)
		return nil
	}
	r := &Route{Line: deref(n).Line}
	var match, matchRE, list *yaml.Node
	rd.fields(n, what, func(key string, v *yaml.Node) bool {
		field := what + ": " + key
		switch key {
		case "receiver":
			r.Receiver, _ = rd.str(v, field)
			if r.Receiver != "" && !rd.receivers[r.Receiver] {
				rd.errorf(v, "%s: undefined receiver %q used in route", what, r.Receiver)
			}
		case "group_by":
			rd.groupBy(r, v, field)
		case "match":
			match = v
		case "match_re":
			matchRE = v
		case "matchers":
			list = v
		case "mute_time_intervals":
			r.MuteTimeIntervals = rd.intervalNames(v, what, field)
		case "active_time_intervals":
			r.ActiveTimeIntervals = rd.intervalNames(v, what, field)
		case "continue":
			rd.decode(v, field, &r.Continue)
		case "routes":
			for i, c := range rd.items(v, field) {
				if child := rd.route(c, fmt.Sprintf("%s.routes[%d]", what, i)); child != nil {
					r.Routes = append(r.Routes, child)
				}
			}
		case "group_wait":
			r.GroupWait = rd.duration(v, field, false)
		case "group_interval":
			r.GroupInterval = rd.duration(v, field, true)
		case "repeat_interval":
			r.RepeatInterval = rd.duration(v, field, true)
		case "labels":
			rd.errorf(v, "%s: route labels (Alertmanager 0.35) are not supported by alerter", field)
		default:
			return false
		}
		return true
	})
	r.Matchers = rd.matchers(match, matchRE, list, what, "")
	return r
}

// groupBy decodes group_by: null inherits the parent's (GroupBy stays
// nil), [] groups everything into one group, '...' groups by all labels.
func (rd *routeDecoder) groupBy(r *Route, n *yaml.Node, field string) {
	if isNull(n) {
		return
	}
	r.GroupBy = []model.LabelName{}
	seen := map[string]bool{}
	for _, it := range rd.items(n, field) {
		s, ok := rd.str(it, field)
		switch {
		case !ok:
		case s == "...":
			r.GroupByAll = true
		case !validLabelName(s):
			rd.errorf(it, "%s: invalid label name %q in group_by list", field, s)
		case seen[s]:
			rd.errorf(it, "%s: duplicated label %q in group_by", field, s)
		default:
			seen[s] = true
			r.GroupBy = append(r.GroupBy, model.LabelName(s))
		}
	}
	if r.GroupByAll {
		if len(r.GroupBy) > 0 {
			rd.errorf(n, "%s: cannot have wildcard group_by (`...`) and other labels at the same time", field)
		}
		r.GroupBy = nil
	}
}

// intervalNames decodes a list of time interval names, each of which must
// be defined.
func (rd *routeDecoder) intervalNames(n *yaml.Node, what, field string) []string {
	var names []string
	for _, it := range rd.items(n, field) {
		s, ok := rd.str(it, field)
		if !ok {
			continue
		}
		if _, defined := rd.intervals[s]; !defined {
			rd.errorf(it, "%s: undefined time interval %q used in route", what, s)
		}
		names = append(names, s)
	}
	return names
}

// duration decodes a Prometheus duration ("30s", "1h30m", "2d"); null
// leaves it unset (inherited).
func (rd *routeDecoder) duration(n *yaml.Node, field string, nonZero bool) *time.Duration {
	if isNull(n) {
		return nil
	}
	s, ok := rd.str(n, field)
	if !ok {
		return nil
	}
	md, err := model.ParseDuration(s)
	if err != nil {
		rd.errorf(n, "%s: %v", field, err)
		return nil
	}
	if nonZero && md == 0 {
		rd.errorf(n, "%s cannot be zero", field)
		return nil
	}
	v := time.Duration(md)
	return &v
}
