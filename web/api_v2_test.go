package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/silences"
)

// testRouting is a real store and dispatcher behind the API.
type testRouting struct {
	store *dispatch.Store
	disp  *dispatch.Dispatcher
}

func (r *testRouting) Store() *dispatch.Store           { return r.store }
func (r *testRouting) Dispatcher() *dispatch.Dispatcher { return r.disp }
func (r *testRouting) ConfigYAML() string               { return "route:\n  receiver: team\n" }
func (r *testRouting) ReceiverNames() []string          { return []string{"critical", "team"} }

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, *dispatch.Batch) (bool, error) { return false, nil }

func mustMatcher(t *testing.T, typ labels.MatchType, n, v string) *labels.Matcher {
	t.Helper()
	m, err := labels.NewMatcher(typ, n, v)
	require.NoError(t, err)
	return m
}

// newV2Server serves the API over a dispatcher routing severity=critical
// to "critical", the rest to "team", with one inhibit rule (critical mutes
// warning of the same service).
func newV2Server(t *testing.T) (string, *testRouting, *silences.Store) {
	t.Helper()
	sils, err := silences.New(context.Background(), silences.Options{})
	require.NoError(t, err)
	nflog, err := dispatch.NewNotificationLog(context.Background(), nil, time.Hour)
	require.NoError(t, err)
	hour := time.Hour
	route := dispatch.NewRoute(&config.Route{
		Receiver: "team", GroupBy: []model.LabelName{"alertname"}, GroupWait: &hour,
		Routes: []*config.Route{{Receiver: "critical", Matchers: labels.Matchers{mustMatcher(t, labels.MatchEqual, "severity", "critical")}}},
	})
	ins := []dispatch.Integration{{Kind: "webhook", Notifier: nopNotifier{}}}
	d, err := dispatch.NewDispatcher(dispatch.Options{
		Route: route, Log: nflog, Silencer: sils,
		Receivers: map[string][]dispatch.Integration{"team": ins, "critical": ins},
		Inhibitor: dispatch.NewInhibitor([]*config.InhibitRule{{
			SourceMatchers: labels.Matchers{mustMatcher(t, labels.MatchEqual, "severity", "critical")},
			TargetMatchers: labels.Matchers{mustMatcher(t, labels.MatchEqual, "severity", "warning")},
			Equal:          []model.LabelName{"svc"},
		}}),
	})
	require.NoError(t, err)
	rt := &testRouting{store: dispatch.NewStore(5*time.Minute, nil)}
	rt.store.SetDispatcher(d)
	rt.disp = d
	t.Cleanup(d.Stop)
	srv := newTestServer(t, Options{Routing: rt, Silences: sils, Version: "1.2.3", StartTime: ts})
	return srv.URL, rt, sils
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	return send(t, method, url, "application/json", body, nil)
}

func TestV2PostAndGetAlerts(t *testing.T) {
	base, rt, _ := newV2Server(t)
	code, body := do(t, "POST", base+"/api/v2/alerts", `[
		{"labels":{"alertname":"Down","svc":"a","severity":"critical"},"annotations":{"summary":"a is down"}},
		{"labels":{"alertname":"Slow","svc":"a","severity":"warning"}},
		{"labels":{"alertname":"Slow","svc":"b","severity":"warning"},"generatorURL":"http://prom/graph"}
	]`)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, 3, rt.store.Len())

	var alerts []gettableAlert
	code, body = do(t, "GET", base+"/api/v2/alerts", "")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal([]byte(body), &alerts))
	require.Len(t, alerts, 3)
	byName := map[string]gettableAlert{}
	for _, a := range alerts {
		byName[string(a.Labels["alertname"]+"/"+a.Labels["svc"])] = a
	}
	down := byName["Down/a"]
	require.Equal(t, []receiverRef{{Name: "critical"}}, down.Receivers)
	require.Equal(t, "active", down.Status.State)
	require.Equal(t, model.LabelValue("a is down"), down.Annotations["summary"])
	require.False(t, down.EndsAt.IsZero(), "EndsAt is set from resolve_timeout")
	slowA := byName["Slow/a"]
	require.Equal(t, "suppressed", slowA.Status.State)
	require.Equal(t, []string{down.Fingerprint}, slowA.Status.InhibitedBy)
	require.Equal(t, "active", byName["Slow/b"].Status.State)
	require.Contains(t, body, `"silencedBy":[]`, "empty lists, never null, as amtool expects")

	// Filters: matchers, inhibited=false, receiver regex.
	code, body = do(t, "GET", base+`/api/v2/alerts?filter=alertname%3D%22Slow%22&inhibited=false`, "")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal([]byte(body), &alerts))
	require.Len(t, alerts, 1)
	require.Equal(t, model.LabelValue("b"), alerts[0].Labels["svc"])
	code, body = do(t, "GET", base+`/api/v2/alerts?receiver=crit.*`, "")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal([]byte(body), &alerts))
	require.Len(t, alerts, 1)

	// Groups: by route and alertname.
	var groups []alertGroup
	code, body = do(t, "GET", base+"/api/v2/alerts/groups", "")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal([]byte(body), &groups))
	require.Len(t, groups, 2)
	require.Equal(t, "critical", groups[0].Receiver.Name)
	require.Equal(t, model.LabelSet{"alertname": "Down"}, groups[0].Labels)
	require.Len(t, groups[1].Alerts, 2)
}

// As Alertmanager's API: a label with an empty value is no label, so
// {alertname="A", foo=""} is the alert {alertname="A"}.
func TestV2EmptyLabelValuesDropped(t *testing.T) {
	base, rt, _ := newV2Server(t)
	code, body := do(t, "POST", base+"/api/v2/alerts", `[{"labels":{"alertname":"A","foo":""}}]`)
	require.Equal(t, http.StatusOK, code, body)
	a, ok := rt.store.Get(model.LabelSet{"alertname": "A"}.Fingerprint())
	require.True(t, ok)
	require.Equal(t, model.LabelSet{"alertname": "A"}, a.Labels)
	code, body = do(t, "POST", base+"/api/v2/alerts", `[{"labels":{"foo":""}}]`)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "at least one label pair required")
}

func TestV2BadAlertsStoreNothing(t *testing.T) {
	base, rt, _ := newV2Server(t)
	good := `{"labels":{"alertname":"Good"}}`
	for name, tc := range map[string]struct{ body, want string }{
		"malformed JSON":     {`[{"labels":`, "invalid JSON body"},
		"not a list":         {`{"labels":{"a":"b"}}`, "invalid JSON body"},
		"no labels":          {`[` + good + `,{"labels":{}}]`, "alert 1 ({}): at least one label pair required"},
		"invalid label name": {`[` + good + `,{"labels":{"":"x"}}]`, "invalid label set: invalid name"},
		"invalid utf8 value": {`[` + good + `,{"labels":{"a":"\xff"}}]`, "invalid"},
		"ends before starts": {`[` + good + `,{"labels":{"a":"b"},"startsAt":"2026-01-02T00:00:00Z","endsAt":"2026-01-01T00:00:00Z"}]`, "start time must be before end time"},
		"bad time":           {`[{"labels":{"a":"b"},"startsAt":"yesterday"}]`, "invalid JSON body"},
	} {
		t.Run(name, func(t *testing.T) {
			code, body := do(t, "POST", base+"/api/v2/alerts", tc.body)
			require.Equal(t, http.StatusBadRequest, code, body)
			require.Contains(t, body, tc.want)
			require.Zero(t, rt.store.Len(), "nothing stored")
		})
	}
	code, body := do(t, "POST", base+"/api/v2/alerts", "["+strings.Repeat(good+",", maxAlertsBody/len(good))+good+"]")
	require.Equal(t, http.StatusRequestEntityTooLarge, code, body)
	require.Zero(t, rt.store.Len())
}

func TestV2Silences(t *testing.T) {
	base, _, sils := newV2Server(t)
	code, body := do(t, "POST", base+"/api/v2/alerts", `[{"labels":{"alertname":"Slow","svc":"b","severity":"warning"}}]`)
	require.Equal(t, http.StatusOK, code, body)

	start := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	end := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	code, body = do(t, "POST", base+"/api/v2/silences", `{"matchers":[{"name":"svc","value":"b","isRegex":false},
		{"name":"severity","value":"warn.*","isRegex":true,"isEqual":true}],
		"startsAt":"`+start+`","endsAt":"`+end+`","createdBy":"me","comment":"deploy <script>"}`)
	require.Equal(t, http.StatusOK, code, body)
	var created struct {
		SilenceID string `json:"silenceID"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	require.NotEmpty(t, created.SilenceID)

	var alerts []gettableAlert
	_, body = do(t, "GET", base+"/api/v2/alerts", "")
	require.NoError(t, json.Unmarshal([]byte(body), &alerts))
	require.Equal(t, []string{created.SilenceID}, alerts[0].Status.SilencedBy)
	require.Equal(t, "suppressed", alerts[0].Status.State)
	_, body = do(t, "GET", base+"/api/v2/alerts?silenced=false", "")
	require.Equal(t, "[]\n", body)

	var got gettableSilence
	code, body = do(t, "GET", base+"/api/v2/silence/"+created.SilenceID, "")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	require.Equal(t, silences.StateActive, got.Status.State)
	require.Equal(t, "deploy <script>", got.Comment)
	require.Len(t, got.Matchers, 2)

	var list []gettableSilence
	_, body = do(t, "GET", base+`/api/v2/silences?filter=svc%3D%22b%22`, "")
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list, 1)
	_, body = do(t, "GET", base+`/api/v2/silences?filter=svc%3D%22c%22`, "")
	require.Equal(t, "[]\n", body)

	code, _ = do(t, "DELETE", base+"/api/v2/silence/"+created.SilenceID, "")
	require.Equal(t, http.StatusOK, code)
	s, err := sils.Get(created.SilenceID)
	require.NoError(t, err)
	require.Equal(t, silences.StateExpired, s.State(time.Now()))
	code, _ = do(t, "GET", base+"/api/v2/silence/nope", "")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = do(t, "DELETE", base+"/api/v2/silence/nope", "")
	require.Equal(t, http.StatusNotFound, code)
}

func TestV2BadSilencesStoreNothing(t *testing.T) {
	base, _, sils := newV2Server(t)
	times := `"startsAt":"2030-01-01T00:00:00Z","endsAt":"2030-01-02T00:00:00Z","createdBy":"me","comment":"c"`
	for name, tc := range map[string]struct{ body, want string }{
		"malformed":     {`{"matchers":[`, "invalid JSON body"},
		"no matchers":   {`{"matchers":[],` + times + `}`, "no matchers"},
		"invalid regex": {`{"matchers":[{"name":"a","value":"(","isRegex":true}],` + times + `}`, "matcher 0 (a)"},
		"matches all":   {`{"matchers":[{"name":"a","value":".*","isRegex":true}],` + times + `}`, "empty string"},
		"ends first":    {`{"matchers":[{"name":"a","value":"b","isRegex":false}],"startsAt":"2030-01-02T00:00:00Z","endsAt":"2030-01-01T00:00:00Z","createdBy":"me","comment":"c"}`, "end"},
		"no times":      {`{"matchers":[{"name":"a","value":"b","isRegex":false}],"createdBy":"me","comment":"c"}`, "required"},
		"unknown id":    {`{"id":"nope","matchers":[{"name":"a","value":"b","isRegex":false}],` + times + `}`, "not found"},
	} {
		t.Run(name, func(t *testing.T) {
			code, body := do(t, "POST", base+"/api/v2/silences", tc.body)
			require.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, code, body)
			require.Contains(t, body, tc.want)
			require.Empty(t, sils.Query(), "nothing stored")
		})
	}
}

func TestV2StatusAndReceivers(t *testing.T) {
	base, _, _ := newV2Server(t)
	code, body := do(t, "GET", base+"/api/v2/status", "")
	require.Equal(t, http.StatusOK, code)
	var st statusJSON
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Equal(t, "disabled", st.Cluster.Status)
	require.Equal(t, "1.2.3", st.VersionInfo["version"])
	require.Contains(t, st.Config.Original, "receiver: team")
	require.True(t, st.Uptime.Equal(ts))
	_, body = do(t, "GET", base+"/api/v2/receivers", "")
	require.JSONEq(t, `[{"name":"critical"},{"name":"team"}]`, body)
}
