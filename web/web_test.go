package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/evaluator"
)

type fakeRules []evaluator.GroupStatus

func (f fakeRules) Groups() []evaluator.GroupStatus { return f }

var ts = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func groups() fakeRules {
	return fakeRules{{
		Key: "r.yml;web", File: "r.yml", Name: "web", Interval: time.Minute, Datasource: "prom",
		LastEvaluation: ts, EvaluationTime: 1500 * time.Millisecond,
		Rules: []evaluator.RuleStatus{{
			Name: "HighErrors", Alerting: true, Query: "errors > 1", For: 5 * time.Minute,
			Labels: labels.FromStrings("severity", "page"), Annotations: labels.FromStrings("summary", "s"),
			Health: evaluator.HealthOK, Last: evaluator.Evaluation{Time: ts, Duration: 2 * time.Millisecond, Samples: 2},
			State: evaluator.StateFiring,
			Alerts: []evaluator.Alert{
				{State: evaluator.StateFiring, Labels: labels.FromStrings("alertname", "HighErrors", "instance", "b"), Annotations: labels.FromStrings("summary", "s b"), Value: 2.5, ActiveAt: ts.Add(-10 * time.Minute)},
				{State: evaluator.StatePending, Labels: labels.FromStrings("alertname", "HighErrors", "instance", "a"), Annotations: labels.EmptyLabels(), Value: math.Inf(1), ActiveAt: ts, KeepFiringSince: ts},
				{State: evaluator.StateInactive, Labels: labels.FromStrings("alertname", "HighErrors", "instance", "c"), Annotations: labels.EmptyLabels(), ResolvedAt: ts},
			},
			History: []evaluator.Evaluation{{Time: ts, Duration: time.Millisecond, Samples: 2}, {Time: ts.Add(-time.Minute), Err: "boom"}},
		}, {
			Name: "job:errors:rate", Query: "rate(errors[1m])", Health: evaluator.HealthUnknown,
			LastError: "not evaluated: read-only datasource",
		}},
	}, {
		Key: "s.yml;nightly", File: "s.yml", Name: "nightly", Interval: 24 * time.Hour, Schedule: "@daily",
		Rules: []evaluator.RuleStatus{{Name: "Never", Alerting: true, Query: "vector(1)", Health: evaluator.HealthUnknown, Labels: labels.EmptyLabels(), Annotations: labels.EmptyLabels()}},
	}}
}

func newTestServer(t *testing.T, opts Options, wrap ...func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	if opts.Rules == nil {
		opts.Rules = groups()
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.NewRegistry()
	}
	if opts.Reload == nil {
		opts.Reload = func(context.Context) error { return nil }
	}
	h := New(opts)
	for _, w := range wrap {
		h = w(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestRulesJSONShape compares the whole answer with Prometheus' shape.
func TestRulesJSONShape(t *testing.T) {
	srv := newTestServer(t, Options{})
	code, body := get(t, srv.URL+"/api/v1/rules")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"status":"success","data":{"groups":[
	  {"name":"web","file":"r.yml","interval":60,"limit":0,"evaluationTime":1.5,"lastEvaluation":"2026-05-01T12:00:00Z","datasource":"prom",
	   "rules":[
	    {"state":"firing","name":"HighErrors","query":"errors > 1","duration":300,"keepFiringFor":0,
	     "labels":{"severity":"page"},"annotations":{"summary":"s"},
	     "alerts":[
	       {"labels":{"alertname":"HighErrors","instance":"a"},"annotations":{},"state":"pending","activeAt":"2026-05-01T12:00:00Z","keepFiringSince":"2026-05-01T12:00:00Z","value":"+Inf"},
	       {"labels":{"alertname":"HighErrors","instance":"b"},"annotations":{"summary":"s b"},"state":"firing","activeAt":"2026-05-01T11:50:00Z","value":"2.5e+00"}],
	     "health":"ok","evaluationTime":0.002,"lastEvaluation":"2026-05-01T12:00:00Z","type":"alerting"},
	    {"name":"job:errors:rate","query":"rate(errors[1m])","labels":{},"health":"unknown","lastError":"not evaluated: read-only datasource",
	     "evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z","type":"recording"}]},
	  {"name":"nightly","file":"s.yml","interval":86400,"limit":0,"evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z","schedule":"@daily",
	   "rules":[{"state":"inactive","name":"Never","query":"vector(1)","duration":0,"keepFiringFor":0,"labels":{},"annotations":{},
	     "health":"unknown","evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z","type":"alerting"}]}]}}`, body)
}

func TestRulesFilters(t *testing.T) {
	srv := newTestServer(t, Options{})
	names := func(query string) []string {
		code, body := get(t, srv.URL+"/api/v1/rules?"+query)
		require.Equal(t, http.StatusOK, code, body)
		var resp struct {
			Data struct {
				Groups []struct {
					Name  string `json:"name"`
					Rules []struct {
						Name    string `json:"name"`
						Alerts  []any  `json:"alerts"`
						History []struct {
							Error string `json:"error"`
						} `json:"history"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &resp))
		var out []string
		for _, g := range resp.Data.Groups {
			for _, r := range g.Rules {
				s := g.Name + "/" + r.Name
				if len(r.Alerts) > 0 {
					s += "+alerts"
				}
				if len(r.History) > 0 {
					s += "+history:" + r.History[1].Error
				}
				out = append(out, s)
			}
		}
		return out
	}
	require.Equal(t, []string{"web/HighErrors+alerts", "nightly/Never"}, names("type=alert"))
	require.Equal(t, []string{"web/job:errors:rate"}, names("type=record"))
	require.Equal(t, []string{"web/HighErrors"}, names("rule_name[]=HighErrors&exclude_alerts=true"))
	require.Equal(t, []string{"nightly/Never"}, names("rule_group[]=nightly"))
	require.Equal(t, []string{"web/HighErrors+alerts", "web/job:errors:rate"}, names("file[]=r.yml"))
	require.Equal(t, []string{"web/HighErrors+alerts+history:boom"}, names("rule_name[]=HighErrors&history=1"))

	for _, q := range []string{"type=alerts", "exclude_alerts=maybe", "history=perhaps"} {
		code, body := get(t, srv.URL+"/api/v1/rules?"+q)
		require.Equal(t, http.StatusBadRequest, code, q)
		require.Contains(t, body, `"status":"error","errorType":"bad_data","error":"invalid `)
	}
}

func TestAlertsOnlyActive(t *testing.T) {
	srv := newTestServer(t, Options{})
	code, body := get(t, srv.URL+"/api/v1/alerts")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"status":"success","data":{"alerts":[
	  {"labels":{"alertname":"HighErrors","instance":"a"},"annotations":{},"state":"pending","activeAt":"2026-05-01T12:00:00Z","keepFiringSince":"2026-05-01T12:00:00Z","value":"+Inf"},
	  {"labels":{"alertname":"HighErrors","instance":"b"},"annotations":{"summary":"s b"},"state":"firing","activeAt":"2026-05-01T11:50:00Z","value":"2.5e+00"}]}}`, body)

	empty := newTestServer(t, Options{Rules: fakeRules{}})
	_, body = get(t, empty.URL+"/api/v1/alerts")
	require.JSONEq(t, `{"status":"success","data":{"alerts":[]}}`, body)
}

func TestLifecycle(t *testing.T) {
	ready := false
	reloadErr := errors.New(`rules.yml:3:5: group "g": bad`)
	srv := newTestServer(t, Options{
		Ready:  func() bool { return ready },
		Reload: func(context.Context) error { return reloadErr },
	})
	code, _ := get(t, srv.URL+"/-/healthy")
	require.Equal(t, http.StatusOK, code)
	code, _ = get(t, srv.URL+"/-/ready")
	require.Equal(t, http.StatusServiceUnavailable, code)
	ready = true
	code, _ = get(t, srv.URL+"/-/ready")
	require.Equal(t, http.StatusOK, code)

	resp, err := http.Post(srv.URL+"/-/reload", "", nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Equal(t, "failed to reload config: rules.yml:3:5: group \"g\": bad\n", string(b))
	reloadErr = nil
	resp, err = http.Post(srv.URL+"/-/reload", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	code, _ = get(t, srv.URL+"/-/reload")
	require.Equal(t, http.StatusMethodNotAllowed, code, "reload is POST only")
	code, _ = get(t, srv.URL+"/metrics")
	require.Equal(t, http.StatusOK, code)
	code, body := get(t, srv.URL+"/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `<title>Alerts · alerter</title>`, "the web UI")
	code, _ = get(t, srv.URL+"/nope")
	require.Equal(t, http.StatusNotFound, code)
}

func TestServedUnderExternalURLPath(t *testing.T) {
	u, _ := url.Parse("http://example.com/alerter/")
	srv := newTestServer(t, Options{ExternalURL: u})
	code, body := get(t, srv.URL+"/alerter/api/v1/alerts")
	require.Equal(t, http.StatusOK, code)
	require.True(t, strings.HasPrefix(body, `{"status":"success"`))
	code, _ = get(t, srv.URL+"/alerter/-/healthy")
	require.Equal(t, http.StatusOK, code)
	code, _ = get(t, srv.URL+"/api/v1/alerts")
	require.Equal(t, http.StatusNotFound, code)
	resp, err := http.Get(srv.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, srv.URL+"/alerter/", resp.Request.URL.String(), "the root redirects to the prefix")
}
