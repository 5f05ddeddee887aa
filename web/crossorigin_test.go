package web

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/backtest"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/silences"
)

// stateEnv is a server with every state-changing endpoint, each counting
// its calls.
type stateEnv struct {
	*uiEnv
	reloads, tests, backtests atomic.Int32
}

func newStateEnv(t *testing.T) *stateEnv {
	e := &stateEnv{}
	e.uiEnv = newUIEnv(t, Options{
		Reload: func(context.Context) error { e.reloads.Add(1); return nil },
		TestReceiver: func(context.Context, string) ([]ReceiverTestResult, error) {
			e.tests.Add(1)
			return nil, nil
		},
		Backtest: func(context.Context, BacktestRequest) (*backtest.Report, error) {
			e.backtests.Add(1)
			return &backtest.Report{}, nil
		},
	})
	return e
}

// changed reports what the requests so far changed.
func (e *stateEnv) changed() (alerts, sils int, calls int32) {
	return e.routing.store.Len(), len(e.sils.Query()), e.reloads.Load() + e.tests.Load() + e.backtests.Load()
}

const (
	silenceBody  = `{"matchers":[{"name":"alertname","value":".+","isRegex":true}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"mallory","comment":"x"}`
	alertsBody   = `[{"labels":{"alertname":"Forged"}}]`
	backtestJSON = `{"from":"-1h"}`
)

func send(t *testing.T, method, target, ctype, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestCrossSiteRequestsRefused sends every state-changing request as a
// browser on another site does (a form post or a no-cors fetch): each is
// refused with 403 and changes nothing. The same requests without browser
// headers, as amtool or Prometheus send them, work.
func TestCrossSiteRequestsRefused(t *testing.T) {
	e := newStateEnv(t)
	id, err := e.sils.Set(context.Background(), silences.Silence{
		Matchers: mustMatchers(t, `a="b"`), EndsAt: time.Now().Add(time.Hour), CreatedBy: "a", Comment: "b",
	})
	require.NoError(t, err)
	reqs := []struct{ method, path, ctype, body string }{
		{"POST", "/api/v2/silences", "text/plain", silenceBody},
		{"POST", "/api/v2/silences", "application/json", silenceBody},
		{"POST", "/api/v2/alerts", "text/plain", alertsBody},
		{"POST", "/api/v2/alerts", "application/json", alertsBody},
		{"DELETE", "/api/v2/silence/" + id, "", ""},
		{"POST", "/-/reload", "application/x-www-form-urlencoded", ""},
		{"PUT", "/-/reload", "", ""},
		{"POST", "/api/v1/receivers/team/test", "application/x-www-form-urlencoded", ""},
		{"POST", "/api/v1/backtest", "text/plain", backtestJSON},
		{"POST", "/silences/" + id + "/expire", "application/x-www-form-urlencoded", ""},
	}
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},
		{"Sec-Fetch-Site": "same-site", "Origin": "http://sub.example"},
		{"Origin": "http://evil.example"}, // an older browser: no Sec-Fetch-Site
	} {
		for _, r := range reqs {
			code, body := send(t, r.method, e.base+r.path, r.ctype, r.body, h)
			require.Equal(t, http.StatusForbidden, code, "%s %s %v: %s", r.method, r.path, h, body)
			require.Contains(t, body, "cross-site request refused")
		}
	}
	alerts, sils, calls := e.changed()
	require.Zero(t, alerts)
	require.Equal(t, 1, sils)
	require.Zero(t, calls)
	s, _ := e.sils.Get(id)
	require.Equal(t, silences.StateActive, s.State(time.Now()))

	// Clients that are not browsers send no such headers, and pass.
	for _, r := range reqs {
		if r.ctype == "application/json" || r.ctype == "" || strings.HasPrefix(r.path, "/-/") || strings.Contains(r.path, "/test") {
			code, body := send(t, r.method, e.base+r.path, r.ctype, r.body, nil)
			require.Less(t, code, 300, "%s %s: %s", r.method, r.path, body)
		}
	}
	alerts, sils, calls = e.changed()
	require.Equal(t, 1, alerts)
	require.Equal(t, 2, sils) // one more, and the first one expired
	require.Equal(t, int32(3), calls)
}

// TestJSONEndpointsRefuseOtherBodies: a JSON endpoint takes exactly one
// JSON value sent as application/json, as Alertmanager's API does.
func TestJSONEndpointsRefuseOtherBodies(t *testing.T) {
	e := newStateEnv(t)
	for _, tc := range []struct {
		path, ctype, body string
		code              int
		msg               string
	}{
		{"/api/v2/alerts", "text/plain", alertsBody, 415, "application/json"},
		{"/api/v2/alerts", "", alertsBody, 415, "application/json"},
		{"/api/v2/alerts", "application/x-www-form-urlencoded", alertsBody, 415, "application/json"},
		{"/api/v2/silences", "text/plain;charset=utf-8", silenceBody, 415, "application/json"},
		{"/api/v1/backtest", "multipart/form-data; boundary=x", backtestJSON, 415, "application/json"},
		{"/api/v2/alerts", "application/json", alertsBody + alertsBody, 400, "data after the value"},
		{"/api/v2/alerts", "application/json", alertsBody + " x", 400, "data after the value"},
		{"/api/v2/alerts", "application/json", "null", 400, "got null"},
		{"/api/v2/alerts", "application/json", "", 400, "empty"},
		{"/api/v2/silences", "application/json", silenceBody + `{"matchers":[]}`, 400, "data after the value"},
		{"/api/v2/silences", "application/json", silenceBody + ` "trailing"`, 400, "data after the value"},
		{"/api/v1/backtest", "application/json", backtestJSON + backtestJSON, 400, "data after the value"},
	} {
		code, body := send(t, "POST", e.base+tc.path, tc.ctype, tc.body, nil)
		require.Equal(t, tc.code, code, "%s %q %s: %s", tc.path, tc.ctype, tc.body, body)
		require.Contains(t, body, tc.msg, tc.path)
	}
	alerts, sils, calls := e.changed()
	require.Zero(t, alerts)
	require.Zero(t, sils)
	require.Zero(t, calls)

	// A charset parameter is fine, and trailing white space too.
	code, body := send(t, "POST", e.base+"/api/v2/alerts", "application/json; charset=utf-8", alertsBody+"\n\t ", nil)
	require.Equal(t, http.StatusOK, code, body)
	_, ok := e.routing.store.Get(model.LabelSet{"alertname": "Forged"}.Fingerprint())
	require.True(t, ok)
}

func mustMatchers(t *testing.T, s string) labels.Matchers {
	t.Helper()
	ms, err := parseMatcherExpr(config.SyntaxFallback, s)
	require.NoError(t, err)
	return ms
}
