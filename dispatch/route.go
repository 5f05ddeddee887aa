package dispatch

import (
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/config"
)

// RouteOpts are a route's settings after inheritance from its parents.
type RouteOpts struct {
	Receiver string
	// GroupBy holds the labels alerts are grouped by; GroupByAll groups by
	// every label (group_by: ['...']).
	GroupBy             map[model.LabelName]struct{}
	GroupByAll          bool
	GroupWait           time.Duration
	GroupInterval       time.Duration
	RepeatInterval      time.Duration
	MuteTimeIntervals   []string
	ActiveTimeIntervals []string
}

// Route is a node of the routing tree with its inherited settings. It is
// immutable once built.
type Route struct {
	Parent   *Route
	Opts     RouteOpts
	Matchers labels.Matchers
	Continue bool
	Routes   []*Route
	// Key identifies the route uniquely and stably: the chain of matchers
	// from the root, as Alertmanager writes it, plus a "#n" where siblings
	// have the same matchers (Alertmanager's #3817 gives such siblings
	// the same key and so shared dedup records).
	Key string
	// Index is the route's position among its siblings; Line is where it
	// is written in the config file.
	Index int
	Line  int
}

// rootDefaults are Alertmanager's defaults for the root route.
var rootDefaults = RouteOpts{
	GroupBy:        map[model.LabelName]struct{}{},
	GroupWait:      config.DefaultGroupWait,
	GroupInterval:  config.DefaultGroupInterval,
	RepeatInterval: config.DefaultRepeatInterval,
}

// NewRoute builds the routing tree whose root is cfg.
func NewRoute(cfg *config.Route) *Route { return newRoute(cfg, nil, "{}") }

func newRoute(cfg *config.Route, parent *Route, key string) *Route {
	opts := rootDefaults
	if parent != nil {
		opts = parent.Opts
	}
	if cfg.Receiver != "" {
		opts.Receiver = cfg.Receiver
	}
	if cfg.GroupBy != nil || cfg.GroupByAll {
		opts.GroupByAll = cfg.GroupByAll
		opts.GroupBy = make(map[model.LabelName]struct{}, len(cfg.GroupBy))
		for _, ln := range cfg.GroupBy {
			opts.GroupBy[ln] = struct{}{}
		}
	}
	setDuration(&opts.GroupWait, cfg.GroupWait)
	setDuration(&opts.GroupInterval, cfg.GroupInterval)
	setDuration(&opts.RepeatInterval, cfg.RepeatInterval)
	// Time intervals are not inherited, as in Alertmanager.
	opts.MuteTimeIntervals = cfg.MuteTimeIntervals
	opts.ActiveTimeIntervals = cfg.ActiveTimeIntervals
	r := &Route{
		Parent:   parent,
		Opts:     opts,
		Matchers: cfg.Matchers,
		Continue: cfg.Continue,
		Line:     cfg.Line,
		Key:      key,
	}
	seen := map[string]int{}
	for i, c := range cfg.Routes {
		ckey := key + "/" + c.Matchers.String()
		n := seen[ckey]
		seen[ckey] = n + 1
		if n > 0 {
			// A sibling with the same matchers: keep keys unique.
			ckey = fmt.Sprintf("%s#%d", ckey, n)
		}
		child := newRoute(c, r, ckey)
		child.Index = i
		r.Routes = append(r.Routes, child)
	}
	return r
}

func setDuration(dst *time.Duration, src *time.Duration) {
	if src != nil {
		*dst = *src
	}
}

// Match returns the routes an alert with lset takes, in tree order: the
// deepest matching routes, following continue, as Alertmanager does. The
// root always matches.
func (r *Route) Match(lset model.LabelSet) []*Route {
	if !r.Matchers.Matches(lset) {
		return nil
	}
	var all []*Route
	for _, c := range r.Routes {
		matches := c.Match(lset)
		all = append(all, matches...)
		if matches != nil && !c.Continue {
			break
		}
	}
	if len(all) == 0 {
		all = append(all, r)
	}
	return all
}

// Walk calls f for r and every route below it, depth first in tree order.
func (r *Route) Walk(f func(*Route)) {
	f(r)
	for _, c := range r.Routes {
		c.Walk(f)
	}
}

// GroupLabels returns the labels of lset that r groups by.
func (r *Route) GroupLabels(lset model.LabelSet) model.LabelSet {
	if r.Opts.GroupByAll {
		return lset.Clone()
	}
	out := make(model.LabelSet, len(r.Opts.GroupBy))
	for ln := range r.Opts.GroupBy {
		if v, ok := lset[ln]; ok {
			out[ln] = v
		}
	}
	return out
}

// GroupByNames returns the group_by label names, sorted (none for '...').
func (r *Route) GroupByNames() []model.LabelName {
	names := make([]model.LabelName, 0, len(r.Opts.GroupBy))
	for ln := range r.Opts.GroupBy {
		names = append(names, ln)
	}
	slices.Sort(names)
	return names
}
