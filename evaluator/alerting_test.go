package evaluator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// at returns t0 plus m minutes.
func at(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }

// vec returns a vector with one sample of value 1 per instance name.
func vec(instances ...string) promql.Vector {
	var v promql.Vector
	for _, in := range instances {
		v = append(v, promql.Sample{Metric: labels.FromStrings("__name__", "up", "instance", in), F: 1})
	}
	return v
}

// summary renders a rule's alerts as "instance:state@activeAt/firedAt/resolvedAt"
// with times in minutes after t0 ("-" when zero), sorted.
func summary(r *AlertingRule) string {
	mins := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprint(t.Sub(t0).Minutes())
	}
	var out []string
	for _, a := range r.Alerts() {
		s := fmt.Sprintf("%s:%s@%s/%s/%s", a.Labels.Get("instance"), a.State, mins(a.ActiveAt), mins(a.FiredAt), mins(a.ResolvedAt))
		if !a.KeepFiringSince.IsZero() {
			s += "+keep" + mins(a.KeepFiringSince)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func testEnv(q Querier) *evalEnv {
	return &evalEnv{querier: q, logger: slog.New(slog.DiscardHandler)}
}

// step is one evaluation: the instances the query returns (or its error)
// and the expected summary afterwards.
type step struct {
	at   float64
	up   []string
	err  error
	want string
}

func TestAlertingRuleStateMachine(t *testing.T) {
	errQuery := errors.New("connection refused")
	cases := []struct {
		name          string
		hold, keep    time.Duration
		limit         int
		steps         []step
		wantLastError string
	}{{
		name: "for 0 fires at once, resolves when gone, kept 15m then dropped",
		steps: []step{
			{at: 0, up: []string{"a"}, want: "a:firing@0/0/-"},
			{at: 1, want: "a:inactive@0/0/1"},
			{at: 16, want: "a:inactive@0/0/1"},
			{at: 16.5, want: ""},
		},
	}, {
		name: "pending until for has passed",
		hold: 2 * time.Minute,
		steps: []step{
			{at: 0, up: []string{"a"}, want: "a:pending@0/-/-"},
			{at: 1, up: []string{"a"}, want: "a:pending@0/-/-"},
			{at: 2, up: []string{"a"}, want: "a:firing@0/2/-"},
			{at: 3, up: []string{"a", "b"}, want: "a:firing@0/2/- b:pending@3/-/-"},
		},
	}, {
		name: "a pending alert that goes away is forgotten at once",
		hold: 5 * time.Minute,
		steps: []step{
			{at: 0, up: []string{"a"}, want: "a:pending@0/-/-"},
			{at: 1, want: ""},
			{at: 2, up: []string{"a"}, want: "a:pending@2/-/-"},
		},
	}, {
		name: "flapping: a resolved alert that comes back starts over",
		hold: time.Minute,
		steps: []step{
			{at: 0, up: []string{"a"}, want: "a:pending@0/-/-"},
			{at: 1, up: []string{"a"}, want: "a:firing@0/1/-"},
			{at: 2, want: "a:inactive@0/1/2"},
			{at: 3, up: []string{"a"}, want: "a:pending@3/-/-"},
			{at: 4, up: []string{"a"}, want: "a:firing@3/4/-"},
		},
	}, {
		name: "keep_firing_for holds a firing alert, then resolves it",
		keep: 2 * time.Minute,
		steps: []step{
			{at: 0, up: []string{"a"}, want: "a:firing@0/0/-"},
			{at: 1, want: "a:firing@0/0/-+keep1"},
			{at: 2, want: "a:firing@0/0/-+keep1"},
			{at: 3, want: "a:inactive@0/0/3+keep1"},
		},
	}, {
		name: "keep_firing_for is reset when the alert comes back",
		keep: 2 * time.Minute,
		steps: []step{
			{at: 0, up: []string{"a"}, want: "a:firing@0/0/-"},
			{at: 1, want: "a:firing@0/0/-+keep1"},
			{at: 2, up: []string{"a"}, want: "a:firing@0/0/-"},
			{at: 3, want: "a:firing@0/0/-+keep3"},
		},
	}, {
		name: "keep_firing_for does not hold a pending alert",
		hold: 5 * time.Minute, keep: 10 * time.Minute,
		steps: []step{
			{at: 0, up: []string{"a"}, want: "a:pending@0/-/-"},
			{at: 1, want: ""},
		},
	}, {
		name: "a failed query changes nothing",
		hold: 2 * time.Minute,
		steps: []step{
			{at: 0, up: []string{"a", "b"}, want: "a:pending@0/-/- b:pending@0/-/-"},
			{at: 2, up: []string{"a"}, want: "a:firing@0/2/-"},
			{at: 3, err: errQuery, want: "a:firing@0/2/-"},
			{at: 30, err: errQuery, want: "a:firing@0/2/-"},
			{at: 31, up: []string{"a"}, want: "a:firing@0/2/-"},
		},
		wantLastError: "",
	}, {
		name:  "more alerts than the limit drops them all and fails",
		limit: 2,
		steps: []step{
			{at: 0, up: []string{"a", "b"}, want: "a:firing@0/0/- b:firing@0/0/-"},
			{at: 1, up: []string{"a", "b", "c"}, want: ""},
			{at: 2, up: []string{"a"}, want: "a:firing@2/2/-"},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := NewFakeQuerier()
			r := NewAlertingRule("InstanceDown", "up == 0", tc.hold, tc.keep, labels.FromStrings("severity", "page"), labels.EmptyLabels())
			env := testEnv(q)
			env.limit = tc.limit
			for _, s := range tc.steps {
				q.Set("up == 0", func(time.Time) (promql.Vector, error) { return vec(s.up...), s.err })
				_, _, err := r.eval(context.Background(), at(s.at), env)
				if s.err != nil {
					require.ErrorIs(t, err, s.err)
				}
				require.Equal(t, s.want, summary(r), "after the evaluation at %vm", s.at)
			}
		})
	}
}

func TestAlertingRuleLimitError(t *testing.T) {
	q := NewFakeQuerier()
	q.SetVector("x", vec("a", "b", "c"))
	r := NewAlertingRule("X", "x", 0, 0, labels.EmptyLabels(), labels.EmptyLabels())
	env := testEnv(q)
	env.limit = 2
	_, _, err := r.eval(context.Background(), t0, env)
	require.EqualError(t, err, "exceeded limit of 2 with 3 alerts")
}

func TestAlertingRuleForGrowsOnReload(t *testing.T) {
	q := NewFakeQuerier()
	q.SetVector("x", vec("a"))
	r := NewAlertingRule("X", "x", 0, 0, labels.EmptyLabels(), labels.EmptyLabels())
	env := testEnv(q)
	_, _, err := r.eval(context.Background(), at(0), env)
	require.NoError(t, err)
	require.Equal(t, "a:firing@0/0/-", summary(r))
	// The rule is reloaded with a longer `for`: the alert stays firing, as
	// in Prometheus (no resolve and re-fire downstream), and is handed on
	// at its usual resend time.
	r2 := NewAlertingRule("X", "x", 10*time.Minute, 0, labels.EmptyLabels(), labels.EmptyLabels())
	r.toSend(at(0), time.Minute, at(4), "", labels.EmptyLabels())
	r2.restore(r.Alerts())
	_, _, err = r2.eval(context.Background(), at(1), env)
	require.NoError(t, err)
	require.Equal(t, "a:firing@0/0/-", summary(r2))
	sent := r2.toSend(at(1.5), time.Minute, at(5.5), "", labels.EmptyLabels())
	require.Len(t, sent, 1)
	require.Equal(t, at(0), sent[0].StartsAt)
	require.True(t, sent[0].EndsAt.After(at(1.5)), "not resolved")
	// A new alert of the reloaded rule waits the new `for`.
	q.SetVector("x", vec("a", "b"))
	_, _, err = r2.eval(context.Background(), at(2), env)
	require.NoError(t, err)
	require.Equal(t, "a:firing@0/0/- b:pending@2/-/-", summary(r2))
}

func TestAlertingRuleTemplates(t *testing.T) {
	q := NewFakeQuerier()
	q.SetVector(`rate(errors[5m]) > 0.1`, promql.Vector{{
		Metric: labels.FromStrings("__name__", "errors", "instance", "web-1:8080", "job", "web"), F: 0.25,
	}})
	q.SetVector(`sum(up)`, promql.Vector{{Metric: labels.EmptyLabels(), F: 3}})
	r := NewAlertingRule("HighErrors", `rate(errors[5m]) > 0.1`, 0, 0,
		labels.FromStrings("severity", "{{ if gt $value 0.2 }}page{{ else }}ticket{{ end }}", "team", "web"),
		labels.FromStrings(
			"summary", "{{ $labels.instance | stripPort }} errors at {{ $value | humanizePercentage }}",
			"cluster", "{{ $externalLabels.cluster }}",
			"link", "{{ $externalURL }}/x",
			"up", `{{ with query "sum(up)" }}{{ . | first | value }}{{ end }}`,
			"broken", "{{ .Nope.Deeper }}",
			"plain", "no template here",
		))
	env := testEnv(q)
	env.externalLabels = map[string]string{"cluster": "eu1"}
	env.externalURL, _ = url.Parse("http://alerter.example:9095")
	_, _, err := r.eval(context.Background(), t0, env)
	require.NoError(t, err)
	alerts := r.Alerts()
	require.Len(t, alerts, 1)
	a := alerts[0]
	require.Equal(t, `{alertname="HighErrors", instance="web-1:8080", job="web", severity="page", team="web"}`, a.Labels.String())
	require.Equal(t, "web-1 errors at 25%", a.Annotations.Get("summary"))
	require.Equal(t, "eu1", a.Annotations.Get("cluster"))
	require.Equal(t, "http://alerter.example:9095/x", a.Annotations.Get("link"))
	require.Equal(t, "3", a.Annotations.Get("up"))
	require.Equal(t, "no template here", a.Annotations.Get("plain"))
	require.True(t, strings.HasPrefix(a.Annotations.Get("broken"), "<error expanding template: "), a.Annotations.Get("broken"))
	require.Equal(t, 0.25, a.Value)
}

func TestAlertingRuleDuplicateLabelSets(t *testing.T) {
	q := NewFakeQuerier()
	// Two series that differ only in __name__, which alerts drop.
	q.SetVector("x", promql.Vector{
		{Metric: labels.FromStrings("__name__", "a", "instance", "i")},
		{Metric: labels.FromStrings("__name__", "b", "instance", "i")},
	})
	r := NewAlertingRule("X", "x", 0, 0, labels.EmptyLabels(), labels.EmptyLabels())
	_, _, err := r.eval(context.Background(), t0, testEnv(q))
	require.ErrorIs(t, err, errDuplicateAlertLabelSet)
}

func TestAlertingRuleQueryOffset(t *testing.T) {
	q := NewFakeQuerier()
	r := NewAlertingRule("X", "x", 0, 0, labels.EmptyLabels(), labels.EmptyLabels())
	env := testEnv(q)
	env.queryOffset = 30 * time.Second
	_, _, err := r.eval(context.Background(), t0, env)
	require.NoError(t, err)
	require.Equal(t, []time.Time{t0.Add(-30 * time.Second)}, q.Queries("x"))
}

func TestAlertingRuleSeries(t *testing.T) {
	q := NewFakeQuerier()
	q.SetVector("x", vec("a"))
	r := NewAlertingRule("X", "x", time.Minute, 0, labels.FromStrings("severity", "page"), labels.EmptyLabels())
	env := testEnv(q)
	env.writeSeries = true
	out, _, err := r.eval(context.Background(), t0, env)
	require.NoError(t, err)
	require.Len(t, out, 2)
	require.Equal(t, `{__name__="ALERTS", alertname="X", alertstate="pending", instance="a", severity="page"}`, out[0].Metric.String())
	require.Equal(t, 1.0, out[0].F)
	require.Equal(t, `{__name__="ALERTS_FOR_STATE", alertname="X", instance="a", severity="page"}`, out[1].Metric.String())
	require.Equal(t, float64(t0.Unix()), out[1].F)
	require.Equal(t, t0.UnixMilli(), out[1].T)
}

// TestToSend checks what is handed on, and when: firing alerts at once and
// then every resend delay with EndsAt the validity given; resolved alerts
// at once with EndsAt at the resolution, and again every resend delay while
// they are kept; pending alerts never.
func TestToSend(t *testing.T) {
	q := NewFakeQuerier()
	r := NewAlertingRule("X", "x", time.Minute, 0, labels.EmptyLabels(), labels.FromStrings("summary", "s"))
	env := testEnv(q)
	ext := labels.FromStrings("cluster", "eu1", "instance", "not-this-one")
	send := func(m float64) []PostableAlert {
		_, _, err := r.eval(context.Background(), at(m), env)
		require.NoError(t, err)
		return r.toSend(at(m), time.Minute, at(m+4), "http://gen", ext)
	}
	q.SetVector("x", vec("a"))
	require.Empty(t, send(0), "pending alerts are not sent")
	sent := send(1)
	require.Len(t, sent, 1)
	require.Equal(t, `{alertname="X", cluster="eu1", instance="a"}`, sent[0].Labels.String())
	require.Equal(t, at(1), sent[0].StartsAt)
	require.Equal(t, at(5), sent[0].EndsAt, "EndsAt is the validity given")
	require.Equal(t, "http://gen", sent[0].GeneratorURL)
	require.Equal(t, "s", sent[0].Annotations.Get("summary"))
	require.Empty(t, send(1.25), "not again before the resend delay")
	require.Empty(t, send(2), "the resend delay must have passed, not just been reached")
	require.Len(t, send(2.25), 1)

	q.SetVector("x", nil)
	sent = send(2.5)
	require.Len(t, sent, 1, "a resolved alert is sent at once")
	require.Equal(t, at(2.5), sent[0].EndsAt)
	require.Empty(t, send(3))
	require.Len(t, send(3.75), 1, "and re-sent while it is kept")
}

func TestNeedsSendingAfterResolveBeforeResend(t *testing.T) {
	a := &Alert{State: StateInactive, LastSentAt: at(1), ResolvedAt: at(1.5)}
	require.True(t, a.needsSending(at(1.5), time.Hour))
	a = &Alert{State: StatePending}
	require.False(t, a.needsSending(at(100), time.Minute))
}

func TestPersistHashChangesWithPersistedFields(t *testing.T) {
	q := NewFakeQuerier()
	q.SetVector("x", vec("a"))
	r := NewAlertingRule("X", "x", time.Minute, 0, labels.EmptyLabels(), labels.FromStrings("v", "{{ $value }}"))
	env := testEnv(q)
	hash := func() uint64 { return r.Alerts()[0].persistHash() }
	_, _, err := r.eval(context.Background(), at(0), env)
	require.NoError(t, err)
	h0 := hash()
	q.SetVector("x", promql.Vector{{Metric: labels.FromStrings("instance", "a"), F: 2}})
	_, _, err = r.eval(context.Background(), at(0.5), env)
	require.NoError(t, err)
	require.Equal(t, h0, hash(), "a new value alone is not worth a write")
	_, _, err = r.eval(context.Background(), at(1), env)
	require.NoError(t, err)
	h1 := hash()
	require.NotEqual(t, h0, h1, "pending to firing is")
	r.toSend(at(1), time.Minute, at(5), "", labels.EmptyLabels())
	r.toSend(at(2.5), time.Minute, at(6.5), "", labels.EmptyLabels())
	require.Equal(t, h1, hash(), "resending a firing alert is not")
	q.SetVector("x", nil)
	_, _, err = r.eval(context.Background(), at(3), env)
	require.NoError(t, err)
	h2 := hash()
	require.NotEqual(t, h1, h2, "resolving is")
	r.toSend(at(3), time.Minute, at(7), "", labels.EmptyLabels())
	require.NotEqual(t, h2, hash(), "handing the resolve on is")
}

// TestTemplateMemo: a series whose value did not change keeps its last
// expansion; a new value is expanded again; memo holds only current series.
func TestTemplateMemo(t *testing.T) {
	q := NewFakeQuerier()
	r := NewAlertingRule("X", "x", 0, 0, labels.FromStrings("sev", "{{ if gt $value 1.0 }}high{{ else }}low{{ end }}"),
		labels.FromStrings("summary", "{{ $labels.instance }} at {{ $value }}"))
	require.True(t, r.memoize)
	env := testEnv(q)
	eval := func(m float64, v float64, instances ...string) {
		var vec promql.Vector
		for _, in := range instances {
			vec = append(vec, promql.Sample{Metric: labels.FromStrings("instance", in), F: v})
		}
		q.SetVector("x", vec)
		_, _, err := r.eval(context.Background(), at(m), env)
		require.NoError(t, err)
	}
	annotations := func() string {
		var out []string
		for _, a := range r.Alerts() {
			if a.State != StateInactive {
				out = append(out, a.Labels.Get("sev")+":"+a.Annotations.Get("summary"))
			}
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	eval(0, 1, "a", "b")
	require.Equal(t, "low:a at 1,low:b at 1", annotations())
	require.Len(t, r.memo, 2)
	eval(1, 1, "a", "b")
	require.Equal(t, "low:a at 1,low:b at 1", annotations())
	eval(2, 2, "a")
	require.Equal(t, "high:a at 2", annotations(), "a new value is expanded again, labels too")
	require.Len(t, r.memo, 1)

	withQuery := NewAlertingRule("Y", "y", 0, 0, labels.EmptyLabels(), labels.FromStrings("n", `{{ query "sum(up)" }}`))
	require.False(t, withQuery.memoize, "a template that queries is expanded every time")
}
