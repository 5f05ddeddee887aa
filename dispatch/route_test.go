package dispatch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

// testTree is a routing tree that exercises Alertmanager's matching and
// inheritance rules. The comments name each route for the tests below.
func testTree(t testing.TB) *config.Route {
	return &config.Route{
		Receiver: "default", // root: defaults 30s / 5m / 4h, no group_by
		Routes: []*config.Route{
			{ // A
				Matchers:  matchers(t, "owner", "=", "team-A"),
				Receiver:  "team-A",
				GroupBy:   []model.LabelName{"cluster", "alertname"},
				GroupWait: dur(time.Minute),
				Routes: []*config.Route{
					{ // A/prod: continue
						Matchers:       matchers(t, "env", "=~", "prod|production"),
						Receiver:       "team-A-prod",
						RepeatInterval: dur(time.Hour),
						Continue:       true,
					},
					{ // A/notinfo: group_by: [] and a mute interval
						Matchers:          matchers(t, "severity", "!=", "info"),
						GroupBy:           []model.LabelName{},
						MuteTimeIntervals: []string{"night"},
					},
					{ // A/nondev: group_by: ['...']
						Matchers:   matchers(t, "env", "!~", "dev.*"),
						Receiver:   "team-A-nondev",
						GroupByAll: true,
						Routes: []*config.Route{
							{ // A/nondev/eu: inherits '...'
								Matchers: matchers(t, "region", "=", "eu"),
							},
							{ // A/nondev/us: group_by again
								Matchers: matchers(t, "region", "=", "us"),
								GroupBy:  []model.LabelName{"alertname"},
							},
						},
					},
				},
			},
			{ // B: continue, active interval
				Matchers:            matchers(t, "owner", "=", "team-B"),
				Receiver:            "team-B",
				Continue:            true,
				ActiveTimeIntervals: []string{"business"},
				GroupInterval:       dur(10 * time.Minute),
				Routes: []*config.Route{
					{ // B/prod
						Matchers: matchers(t, "env", "=", "prod"),
						Receiver: "team-B-prod",
					},
				},
			},
			{ // any
				Matchers: matchers(t, "owner", "=~", "team-.*"),
				Receiver: "team-any",
			},
			{ // A again: same matchers as the first child, never reached
				Matchers: matchers(t, "owner", "=", "team-A"),
				Receiver: "team-A-dup",
			},
		},
	}
}

// routeReceivers returns the receivers of routes, in order.
func routeReceivers(routes []*Route) []string {
	out := make([]string, 0, len(routes))
	for _, r := range routes {
		out = append(out, r.Opts.Receiver)
	}
	return out
}

func TestRouteMatch(t *testing.T) {
	root := NewRoute(testTree(t))
	f := func(ls model.LabelSet, want ...string) {
		t.Helper()
		require.Equal(t, want, routeReceivers(root.Match(ls)), "labels %s", ls)
	}
	// Continue on the first grandchild, then the first non-continue match
	// ends the level.
	f(lset("owner", "team-A", "env", "prod", "severity", "critical"), "team-A-prod", "team-A")
	f(lset("owner", "team-A", "env", "production", "severity", "info"), "team-A-prod", "team-A-nondev")
	// Regex matchers are anchored: "preprod" is not prod|production; a
	// negative matcher matches a missing label.
	f(lset("owner", "team-A", "env", "preprod"), "team-A")
	f(lset("owner", "team-A", "env", "preprod", "severity", "info"), "team-A-nondev")
	// No child matches: the parent itself is the match.
	f(lset("owner", "team-A", "env", "dev1", "severity", "info"), "team-A")
	// Deepest match, with continue into the next sibling.
	f(lset("owner", "team-A", "env", "prod", "severity", "info", "region", "eu"), "team-A-prod", "team-A-nondev")
	f(lset("owner", "team-B", "env", "prod"), "team-B-prod", "team-any")
	f(lset("owner", "team-B", "env", "dev"), "team-B", "team-any")
	f(lset("owner", "team-C"), "team-any")
	// Anchored regex on the owner: no match, root fallback.
	f(lset("owner", "xteam-A"), "default")
	f(lset("owner", "other"), "default")
	f(model.LabelSet{}, "default")
}

func TestRouteMatchReturnsNodes(t *testing.T) {
	root := NewRoute(testTree(t))
	a := root.Routes[0]
	got := root.Match(lset("owner", "team-A", "env", "prod", "severity", "info", "region", "eu"))
	require.Len(t, got, 2)
	require.Same(t, a.Routes[0], got[0])
	require.Same(t, a.Routes[2].Routes[0], got[1], "the deepest route, not its parent")
	require.Equal(t, []*Route{root}, root.Match(lset("x", "y")))
	// A root with matchers that do not match (not valid config, but Match
	// must not invent a route).
	cfg := &config.Route{Receiver: "r", Matchers: matchers(t, "a", "=", "b")}
	require.Nil(t, NewRoute(cfg).Match(lset("a", "c")))
}

func TestRouteOptsInheritance(t *testing.T) {
	root := NewRoute(testTree(t))
	a, b := root.Routes[0], root.Routes[1]
	aProd, aNotInfo, aNonDev := a.Routes[0], a.Routes[1], a.Routes[2]
	aEU, aUS := aNonDev.Routes[0], aNonDev.Routes[1]
	bProd := b.Routes[0]
	set := func(names ...model.LabelName) map[model.LabelName]struct{} {
		m := map[model.LabelName]struct{}{}
		for _, n := range names {
			m[n] = struct{}{}
		}
		return m
	}
	type want struct {
		receiver     string
		groupBy      map[model.LabelName]struct{}
		all          bool
		gw, gi, ri   time.Duration
		mute, active []string
		cont         bool
	}
	f := func(name string, r *Route, w want) {
		t.Helper()
		o := r.Opts
		require.Equal(t, w.receiver, o.Receiver, name)
		if !w.all {
			require.Equal(t, w.groupBy, o.GroupBy, name)
		}
		require.Equal(t, w.all, o.GroupByAll, name)
		require.Equal(t, w.gw, o.GroupWait, name+" group_wait")
		require.Equal(t, w.gi, o.GroupInterval, name+" group_interval")
		require.Equal(t, w.ri, o.RepeatInterval, name+" repeat_interval")
		require.ElementsMatch(t, w.mute, o.MuteTimeIntervals, name+" mute_time_intervals")
		require.ElementsMatch(t, w.active, o.ActiveTimeIntervals, name+" active_time_intervals")
		require.Equal(t, w.cont, r.Continue, name+" continue")
	}
	const m5, h4 = 5 * time.Minute, 4 * time.Hour
	f("root", root, want{receiver: "default", groupBy: set(), gw: 30 * time.Second, gi: m5, ri: h4})
	f("A", a, want{receiver: "team-A", groupBy: set("cluster", "alertname"), gw: time.Minute, gi: m5, ri: h4})
	f("A/prod", aProd, want{receiver: "team-A-prod", groupBy: set("cluster", "alertname"), gw: time.Minute, gi: m5, ri: time.Hour, cont: true})
	// group_by: [] means no grouping labels, not "inherit".
	f("A/notinfo", aNotInfo, want{receiver: "team-A", groupBy: set(), gw: time.Minute, gi: m5, ri: h4, mute: []string{"night"}})
	f("A/nondev", aNonDev, want{receiver: "team-A-nondev", all: true, gw: time.Minute, gi: m5, ri: h4})
	f("A/nondev/eu", aEU, want{receiver: "team-A-nondev", all: true, gw: time.Minute, gi: m5, ri: h4})
	f("A/nondev/us", aUS, want{receiver: "team-A-nondev", groupBy: set("alertname"), gw: time.Minute, gi: m5, ri: h4})
	// Time intervals are not inherited (Alertmanager 0.35).
	f("B", b, want{receiver: "team-B", groupBy: set(), gw: 30 * time.Second, gi: 10 * time.Minute, ri: h4, active: []string{"business"}, cont: true})
	f("B/prod", bProd, want{receiver: "team-B-prod", groupBy: set(), gw: 30 * time.Second, gi: 10 * time.Minute, ri: h4})
	require.Empty(t, aProd.Opts.MuteTimeIntervals)
	require.Empty(t, bProd.Opts.ActiveTimeIntervals)
	// Parents link back.
	require.Same(t, aNonDev, aEU.Parent)
	require.Nil(t, root.Parent)
}

func TestRouteInheritsRootDefaultsNotSiblings(t *testing.T) {
	// A child's settings never leak into the parent or a sibling.
	cfg := &config.Route{
		Receiver: "r",
		GroupBy:  []model.LabelName{"alertname"},
		Routes: []*config.Route{
			{Matchers: matchers(t, "a", "=", "1"), GroupBy: []model.LabelName{"x"}, GroupWait: dur(time.Second)},
			{Matchers: matchers(t, "a", "=", "2")},
		},
	}
	root := NewRoute(cfg)
	require.Equal(t, []model.LabelName{"alertname"}, root.GroupByNames())
	require.Equal(t, []model.LabelName{"x"}, root.Routes[0].GroupByNames())
	require.Equal(t, []model.LabelName{"alertname"}, root.Routes[1].GroupByNames())
	require.Equal(t, config.DefaultGroupWait, root.Routes[1].Opts.GroupWait)
	// Building the tree does not touch the config.
	require.Equal(t, []model.LabelName{"alertname"}, cfg.GroupBy)
	require.Nil(t, cfg.Routes[1].GroupBy)
}

func TestRouteKeys(t *testing.T) {
	root := NewRoute(testTree(t))
	a := root.Routes[0]
	// The same format as Alertmanager's Route.Key for routes without
	// duplicate siblings.
	require.Equal(t, "{}", root.Key)
	require.Equal(t, `{}/{owner="team-A"}`, a.Key)
	require.Equal(t, `{}/{owner="team-A"}/{env=~"prod|production"}`, a.Routes[0].Key)
	require.Equal(t, `{}/{owner="team-A"}/{env!~"dev.*"}/{region="eu"}`, a.Routes[2].Routes[0].Key)
	require.Equal(t, `{}/{owner="team-B"}/{env="prod"}`, root.Routes[1].Routes[0].Key)

	// Unique, including the sibling with the same matchers as another.
	keys := map[string]*Route{}
	n := 0
	root.Walk(func(r *Route) {
		n++
		if other, dup := keys[r.Key]; dup {
			t.Fatalf("key %q of route %d also used by route %d", r.Key, r.Index, other.Index)
		}
		keys[r.Key] = r
	})
	require.Equal(t, 11, n)
	require.NotEqual(t, root.Routes[0].Key, root.Routes[3].Key)
	require.True(t, strings.HasPrefix(root.Routes[3].Key, `{}/{owner="team-A"}`))

	// Stable: the same config gives the same keys.
	again := NewRoute(testTree(t))
	var k1, k2 []string
	root.Walk(func(r *Route) { k1 = append(k1, r.Key) })
	again.Walk(func(r *Route) { k2 = append(k2, r.Key) })
	require.Equal(t, k1, k2)

	// Adding a sibling at the end does not change the other keys.
	cfg := testTree(t)
	cfg.Routes = append(cfg.Routes, &config.Route{Matchers: matchers(t, "owner", "=", "team-A"), Receiver: "team-A-dup2"})
	grown := NewRoute(cfg)
	var k3 []string
	grown.Walk(func(r *Route) { k3 = append(k3, r.Key) })
	require.Equal(t, k1, k3[:len(k1)])
	require.NotContains(t, k1, k3[len(k1)])
}

func TestRouteKeysDuplicateSiblingsNested(t *testing.T) {
	// Three identical siblings, each with an identical child: six keys.
	child := func() []*config.Route {
		return []*config.Route{{Matchers: matchers(t, "b", "=", "1"), Receiver: "r"}}
	}
	cfg := &config.Route{Receiver: "r"}
	for range 3 {
		cfg.Routes = append(cfg.Routes, &config.Route{Matchers: matchers(t, "a", "=", "1"), Routes: child()})
	}
	// Siblings without matchers are duplicates of each other too.
	cfg.Routes = append(cfg.Routes, &config.Route{}, &config.Route{})
	seen := map[string]bool{}
	NewRoute(cfg).Walk(func(r *Route) {
		require.False(t, seen[r.Key], "duplicate key %q", r.Key)
		seen[r.Key] = true
	})
	require.Len(t, seen, 1+3*2+2)
}

func TestRouteIndexAndLine(t *testing.T) {
	cfg := testTree(t)
	for i, c := range cfg.Routes {
		c.Line = 10 * (i + 1)
	}
	root := NewRoute(cfg)
	for i, r := range root.Routes {
		require.Equal(t, i, r.Index)
		require.Equal(t, 10*(i+1), r.Line)
	}
}

func TestRouteGroupLabels(t *testing.T) {
	root := NewRoute(testTree(t))
	a := root.Routes[0]
	full := lset("alertname", "Disk", "cluster", "c1", "instance", "i1", "owner", "team-A")
	f := func(r *Route, ls, want model.LabelSet) {
		t.Helper()
		require.Equal(t, want, r.GroupLabels(ls))
	}
	f(a, full, lset("alertname", "Disk", "cluster", "c1"))
	// A missing group_by label is left out (not an empty value).
	f(a, lset("alertname", "Disk"), lset("alertname", "Disk"))
	// group_by: [] groups everything together.
	f(a.Routes[1], full, model.LabelSet{})
	f(root, full, model.LabelSet{})
	// '...' groups by every label, and the result is a copy.
	got := a.Routes[2].GroupLabels(full)
	require.Equal(t, full, got)
	got["x"] = "y"
	require.NotContains(t, full, model.LabelName("x"))
	f(a.Routes[2].Routes[0], full, full)
	f(a.Routes[2].Routes[1], full, lset("alertname", "Disk"))
}

// benchTree is a realistic routing tree: 4 teams, each with a few
// environment and severity children, some with continue, regex matchers.
func benchTree(tb testing.TB) *config.Route {
	root := &config.Route{Receiver: "default", GroupBy: []model.LabelName{"alertname", "cluster"}}
	for i, team := range []string{"payments", "search", "storage", "platform"} {
		teamRoute := &config.Route{
			Matchers: matchers(tb, "team", "=~", team+"|"+team+"-oncall"),
			Receiver: team,
			Routes: []*config.Route{
				{Matchers: matchers(tb, "severity", "=", "critical", "env", "=~", "prod.*"), Receiver: team + "-pager", Continue: true},
				{Matchers: matchers(tb, "env", "=~", "staging|qa"), Receiver: team + "-staging", Routes: []*config.Route{
					{Matchers: matchers(tb, "alertname", "=~", ".*Latency.*"), Receiver: team + "-perf"},
				}},
				{Matchers: matchers(tb, "service", "!~", "legacy-.*", "region", "=~", "eu-.*"), Receiver: team + "-eu"},
			},
		}
		if i%2 == 0 {
			teamRoute.Continue = true
		}
		root.Routes = append(root.Routes, teamRoute)
	}
	root.Routes = append(root.Routes, &config.Route{Matchers: matchers(tb, "severity", "=", "info"), Receiver: "info"})
	return root
}

func BenchmarkRouteMatch(b *testing.B) {
	root := NewRoute(benchTree(b))
	n := 0
	root.Walk(func(*Route) { n++ })
	require.GreaterOrEqual(b, n, 20)
	alerts := []model.LabelSet{
		// Deep match with continue (pager and the team route).
		lset("alertname", "HighLatency", "team", "storage", "severity", "critical", "env", "production",
			"region", "eu-west-1", "service", "blob", "cluster", "c1", "instance", "10.0.0.1:9100", "job", "node", "pod", "p-1"),
		// Falls through every team to the root.
		lset("alertname", "Watchdog", "team", "none", "severity", "warning", "env", "prod",
			"region", "us-east-1", "service", "legacy-x", "cluster", "c2", "instance", "10.0.0.2:9100", "job", "node", "pod", "p-2"),
	}
	for i, ls := range alerts {
		require.Len(b, ls, 10)
		b.Run(fmt.Sprint("alert", i), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(root.Match(ls)) == 0 {
					b.Fatal("no route")
				}
			}
		})
	}
}
