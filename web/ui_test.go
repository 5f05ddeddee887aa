package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/silences"
)

// uiEnv is the UI over a real alert store, dispatcher and silences store.
type uiEnv struct {
	base    string
	routing *testRouting
	sils    *silences.Store
	hist    *fakeHistory
	// unsafeRequests counts the requests other than GET and HEAD that
	// reached the server.
	unsafeRequests atomic.Int64
}

// xss is markup that must render as text wherever a user can put it.
const xss = `<script>window.xss=1</script><img src=x onerror="window.xss=1">`

// uiRoutingOpts builds a dispatcher routing severity=critical to
// "critical" (and on, with continue, to "team"), the rest to "team";
// critical alerts inhibit warnings of the same svc.
func uiRoutingOpts(t testing.TB, sils *silences.Store) dispatch.Options {
	nflog, err := dispatch.NewNotificationLog(context.Background(), nil, time.Hour)
	require.NoError(t, err)
	hour := time.Hour
	eq := func(n, v string) *labels.Matcher {
		m, err := labels.NewMatcher(labels.MatchEqual, n, v)
		require.NoError(t, err)
		return m
	}
	route := dispatch.NewRoute(&config.Route{
		Receiver: "team", GroupBy: []model.LabelName{"alertname"}, GroupWait: &hour,
		Routes: []*config.Route{
			{Receiver: "critical", Matchers: labels.Matchers{eq("severity", "critical")}, Continue: true},
			{Receiver: "db", Matchers: labels.Matchers{eq("team", "db")}, MuteTimeIntervals: []string{"weekends"}},
		},
	})
	ins := []dispatch.Integration{{Kind: "webhook", Notifier: nopNotifier{}}}
	return dispatch.Options{
		Route: route, Log: nflog, Silencer: sils,
		Receivers: map[string][]dispatch.Integration{"team": ins, "critical": ins, "db": ins},
		Inhibitor: dispatch.NewInhibitor([]*config.InhibitRule{{
			SourceMatchers: labels.Matchers{eq("severity", "critical")},
			TargetMatchers: labels.Matchers{eq("severity", "warning")},
			Equal:          []model.LabelName{"svc"},
		}}),
	}
}

func newUIEnv(t *testing.T, opts Options) *uiEnv {
	t.Helper()
	sils, err := silences.New(context.Background(), silences.Options{})
	require.NoError(t, err)
	d, err := dispatch.NewDispatcher(uiRoutingOpts(t, sils))
	require.NoError(t, err)
	t.Cleanup(d.Stop)
	rt := &testRouting{store: dispatch.NewStore(5*time.Minute, nil), disp: d}
	rt.store.SetDispatcher(d)
	hist := &fakeHistory{}
	opts.Routing, opts.Silences, opts.Notifications = rt, sils, hist
	if opts.Version == "" {
		opts.Version, opts.StartTime = "1.2.3", time.Now().Add(-90*time.Minute)
	}
	e := &uiEnv{routing: rt, sils: sils, hist: hist}
	srv := newTestServer(t, opts, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				e.unsafeRequests.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	e.base = srv.URL + prefix(opts.ExternalURL)
	return e
}

// put stores alerts given as label sets plus a summary annotation.
func (e *uiEnv) put(t testing.TB, alerts ...model.LabelSet) {
	t.Helper()
	var as []*dispatch.Alert
	for _, ls := range alerts {
		as = append(as, &dispatch.Alert{
			Labels: ls, StartsAt: time.Now().Add(-10 * time.Minute),
			Annotations: model.LabelSet{"summary": model.LabelValue("summary of " + ls[model.AlertNameLabel])},
		})
	}
	require.NoError(t, e.routing.store.Put(as))
}

// post sends a form as a browser on the same origin does.
func post(t *testing.T, target string, form url.Values, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	u, _ := url.Parse(target)
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestUIPages(t *testing.T) {
	e := newUIEnv(t, Options{TestReceiver: func(context.Context, string) ([]ReceiverTestResult, error) {
		return []ReceiverTestResult{{Integration: "webhook/0", Success: true}}, nil
	}})
	e.put(t,
		model.LabelSet{"alertname": "Down", "svc": "a", "severity": "critical", "team": "db"},
		model.LabelSet{"alertname": "Slow", "svc": "a", "severity": "warning"},
		model.LabelSet{"alertname": "Slow", "svc": "b", "severity": "warning", "team": "db"},
	)
	e.hist.entries = []Notification{{ID: 1, AlertsTotal: 1, Attempt: dispatch.Attempt{
		At: ts, Receiver: "team", Integration: "webhook/0", GroupKey: "{}:{alertname=\"Down\"}", Status: "firing",
		Alerts: []model.LabelSet{{"alertname": "Down"}}, Attempt: 2, Err: "unexpected status code 500", Reason: "serverError",
	}}}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"<title>Alerts · alerter</title>", `aria-current="page">Alerts`, "Down", "summary of Down", "→ critical", "2 firing", "1 inhibited (hidden)", `/silences/new?labels=%7Balertname%3D%22Down%22`}},
		{"/?inhibited=1", []string{"inhibited by <a href=\"/alerts/", "state-inhibited"}},
		{"/?group_by=svc", []string{`<span class="ln">svc</span>`, "by <code>svc</code>"}},
		{"/?group_by=svc,+severity", []string{"by <code>svc, severity</code>", `aria-label="Group severity=warning svc=b "`}},
		{"/?pending=1", []string{"Pending", "HighErrors", "in rules, not yet firing"}},
		{"/silences", []string{"<title>Silences · alerter</title>", "No active silences", "New silence"}},
		{"/silences/new?filter=" + url.QueryEscape(`{alertname="Slow"}`), []string{`>{alertname=&#34;Slow&#34;}</textarea>`, "2</strong> active alerts match", `<label for="comment">Comment</label>`}},
		{"/rules", []string{"HighErrors", "every 1m", "schedule <code>@daily</code>", "boom", "Last 2 evaluations", "not evaluated: read-only datasource"}},
		{"/routes", []string{"Routing tree", "→ <strong>critical</strong>", "continue", "weekends", "group_by"}},
		{"/routes?labels=" + url.QueryEscape("alertname=X\nteam=db"), []string{`class="route matched"`, "Receivers: <strong class=\"receiver\">db</strong>"}},
		{"/notifications", []string{"unexpected status code 500", "serverError", "1 attempt (of 2)", `<option value="critical">`}},
		{"/status", []string{"1.2.3", "route:", "Datasources", "prom", "Send test notification", "Uptime", "1h 30m"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(e.base + tc.path)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := string(b)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			require.Equal(t, contentSecurityPolicy, resp.Header.Get("Content-Security-Policy"))
			require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
			for _, w := range tc.want {
				require.Contains(t, body, w)
			}
			require.NotContains(t, body, "<script>", "no inline script")
			require.NotContains(t, body, "style=", "no inline style")
		})
	}
	// An alert that continue sends down two routes is in both groups:
	// Down is in the critical and in the db group.
	_, body := get(t, e.base+"/")
	require.Equal(t, 2, strings.Count(body, ">Down</a>"))

	// The static assets are served, cacheable, with the right type.
	resp, err := http.Get(e.base + "/static/style.css")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/css")

	resp, _ = post(t, e.base+"/status/receivers/team/test", nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "post/redirect/get")
	_, body = get(t, e.base+resp.Header.Get("Location"))
	require.Contains(t, body, "Test notification to <strong>team</strong>: sent")
}

// A receiver test answers with a redirect, so that reloading the result
// sends nothing again; a receiver without integrations is "not sent",
// saying why.
func TestUIReceiverTestPRG(t *testing.T) {
	var calls atomic.Int64
	e := newUIEnv(t, Options{TestReceiver: func(_ context.Context, name string) ([]ReceiverTestResult, error) {
		calls.Add(1)
		if name == "blackhole" {
			return nil, nil
		}
		return []ReceiverTestResult{{Integration: "webhook/0", Success: true}}, nil
	}})
	resp, _ := post(t, e.base+"/status/receivers/team/test", nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	for range 3 {
		_, body := get(t, e.base+loc)
		require.Contains(t, body, "Test notification to <strong>team</strong>: sent")
	}
	require.Equal(t, int64(1), calls.Load(), "reloading the result sends nothing")
	resp, _ = post(t, e.base+"/status/receivers/blackhole/test", nil, nil)
	_, body := get(t, e.base+resp.Header.Get("Location"))
	require.Contains(t, body, "Test notification to <strong>blackhole</strong>: not sent: the receiver has no integrations")
	require.Contains(t, body, `class="error" role="status"`)
	_, body = get(t, e.base+"/status?test=0123")
	require.Contains(t, body, "no longer kept")
}

func TestUIEscapesUserStrings(t *testing.T) {
	e := newUIEnv(t, Options{})
	require.NoError(t, e.routing.store.Put([]*dispatch.Alert{{
		Labels:      model.LabelSet{"alertname": "XSS", "evil": xss},
		Annotations: model.LabelSet{"summary": xss, "description": xss, "runbook": xss},
		StartsAt:    time.Now(), GeneratorURL: "javascript:alert(1)",
	}}))
	ms, err := parseMatcherExpr(config.SyntaxFallback, `{alertname="XSS"}`)
	require.NoError(t, err)
	id, err := e.sils.Set(context.Background(), silences.Silence{
		Matchers: ms, StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour), CreatedBy: xss, Comment: xss,
	})
	require.NoError(t, err)
	for _, p := range []string{"/?silenced=1", "/silences", "/silences/" + id, "/silences/" + id + "/edit", "/silences/new?filter=" + url.QueryEscape(`{alertname="XSS"}`)} {
		code, body := get(t, e.base+p)
		require.Equal(t, http.StatusOK, code, p)
		require.NotContains(t, body, "<script>window", p)
		require.NotContains(t, body, "<img src=x", p)
		require.NotContains(t, body, "javascript:alert", p)
		require.Contains(t, body, "&lt;script&gt;window.xss=1&lt;/script&gt;", p)
	}
}

func TestUISilenceLifecycle(t *testing.T) {
	e := newUIEnv(t, Options{})
	e.put(t, model.LabelSet{"alertname": "Down", "svc": "a"}, model.LabelSet{"alertname": "Up", "svc": "b"})
	form := url.Values{
		"matchers": {`{alertname="Down"}`}, "duration": {"2h"}, "createdBy": {"ann"}, "comment": {"maintenance " + xss},
		"action": {"save"},
	}
	resp, _ := post(t, e.base+"/silences", form, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/silences/"), loc)
	id := strings.TrimSuffix(strings.TrimPrefix(loc, "/silences/"), "?done=saved")
	s, err := e.sils.Get(id)
	require.NoError(t, err)
	require.Equal(t, "ann", s.CreatedBy)
	require.InDelta(t, 2*time.Hour, s.EndsAt.Sub(s.StartsAt), float64(time.Second))
	require.Contains(t, resp.Header.Get("Set-Cookie"), authorCookie+"=ann")

	_, body := get(t, e.base+loc)
	require.Contains(t, body, "Silence saved.")
	require.Contains(t, body, "1</strong> active alert matches")
	_, body = get(t, e.base+"/?silenced=1")
	require.Contains(t, body, `silenced by <a href="/silences/`+id+`">ann</a>: maintenance &lt;script&gt;`, "who, why, until when")
	require.Contains(t, body, "until <time")
	_, body = get(t, e.base+"/")
	require.Contains(t, body, "1 silenced (hidden)")
	require.NotContains(t, body, ">Down</a>")
	_, body = get(t, e.base+"/silences")
	require.Contains(t, body, "mutes 1 alert")

	// Edit: the end changes in place, the ID stays.
	_, body = get(t, e.base+"/silences/"+id+"/edit")
	require.Contains(t, body, `name="id" value="`+id+`"`)
	require.Contains(t, body, `value="2h"`)
	start := s.StartsAt.UTC().Format(formTime)
	require.Contains(t, body, `name="startsAt" type="datetime-local" step="1" value="`+start+`"`)
	form.Set("id", id)
	form.Set("startsAt", start) // as the browser posts the edit form back
	form.Set("duration", "3h")
	resp, _ = post(t, e.base+"/silences", form, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, loc, resp.Header.Get("Location"))
	s, _ = e.sils.Get(id)
	require.InDelta(t, 3*time.Hour, s.EndsAt.Sub(s.StartsAt), float64(2*time.Second))

	resp, _ = post(t, e.base+"/silences/"+id+"/expire", nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/silences/"+id+"?done=expired", resp.Header.Get("Location"))
	s, _ = e.sils.Get(id)
	require.Equal(t, silences.StateExpired, s.State(time.Now()))
	_, body = get(t, e.base+"/silences?state=expired")
	require.Contains(t, body, id)
	resp, body = post(t, e.base+"/silences/"+id+"/expire", nil, nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "expiring twice")
	require.Contains(t, body, "already expired")
	resp, _ = post(t, e.base+"/silences/nope/expire", nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestUISilenceFormErrorsKeepInput(t *testing.T) {
	e := newUIEnv(t, Options{})
	e.put(t, model.LabelSet{"alertname": "Down", "svc": "a"})
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"matchers": {`{alertname="Down}`}, "duration": {"1h"}, "createdBy": {"bob"}, "comment": {"keep me"}}, "bad matcher syntax"},
		{url.Values{"matchers": {`{alertname=~".*"}`}, "duration": {"1h"}, "createdBy": {"bob"}, "comment": {"keep me"}}, "must not match the empty string"},
		{url.Values{"matchers": {`alertname="Down"`}, "duration": {"soon"}, "createdBy": {"bob"}, "comment": {"keep me"}}, "is not a duration"},
		{url.Values{"matchers": {`alertname="Down"`}, "duration": {"1h"}, "createdBy": {""}, "comment": {"keep me"}}, "say who makes this silence"},
		{url.Values{"matchers": {`alertname="Down"`}, "duration": {"1h"}, "endsAt": {"2001-01-01T00:00"}, "createdBy": {"bob"}, "comment": {"keep me"}}, "the end must be after the start"},
		{url.Values{"matchers": {``}, "duration": {"1h"}, "createdBy": {"bob"}, "comment": {"keep me"}}, "needs at least one matcher"},
	} {
		resp, body := post(t, e.base+"/silences", tc.form, nil)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, tc.want)
		require.Contains(t, body, tc.want)
		require.Contains(t, body, ">keep me</textarea>", "the entered values stay")
	}
	require.Empty(t, e.sils.Query(), "nothing saved")
}

func TestUISilencePreview(t *testing.T) {
	e := newUIEnv(t, Options{})
	e.put(t, model.LabelSet{"alertname": "Down", "svc": "a"}, model.LabelSet{"alertname": "Down", "svc": "b"}, model.LabelSet{"alertname": "Up"})
	resp, body := post(t, e.base+"/silences", url.Values{"matchers": {`{alertname="Down", svc=~"a|b"}`}, "action": {"preview"}, "comment": {"c"}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "2</strong> active alerts match")
	require.Contains(t, body, `<span class="lv">b</span>`)
	require.NotContains(t, body, ">Up</strong>")
	require.NotContains(t, body, "say who makes", "a preview does not complain about blank fields")
	require.Empty(t, e.sils.Query(), "a preview saves nothing")

	code, frag := get(t, e.base+"/silences/preview?matchers="+url.QueryEscape(`alertname="Up"`))
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, frag, "1</strong> active alert matches")
	require.NotContains(t, frag, "<html")
	code, frag = get(t, e.base+"/silences/preview?matchers="+url.QueryEscape(`alertname="Up`))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, frag, "data-error")
}

func TestUICrossSitePostRefused(t *testing.T) {
	e := newUIEnv(t, Options{})
	form := url.Values{"matchers": {`{alertname="Down"}`}, "duration": {"2h"}, "createdBy": {"mallory"}, "comment": {"x"}, "action": {"save"}}
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},
		{"Sec-Fetch-Site": "same-site", "Origin": "http://sub.example"},
		{"Sec-Fetch-Site": "", "Origin": "http://evil.example"},
	} {
		resp, body := post(t, e.base+"/silences", form, h)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, h)
		require.Contains(t, body, "cross-site request refused")
	}
	require.Empty(t, e.sils.Query())

	// Expiring cross-site is refused too.
	ms, _ := parseMatcherExpr(config.SyntaxFallback, `a="b"`)
	id, err := e.sils.Set(context.Background(), silences.Silence{Matchers: ms, EndsAt: time.Now().Add(time.Hour), CreatedBy: "a", Comment: "b"})
	require.NoError(t, err)
	resp, _ := post(t, e.base+"/silences/"+id+"/expire", nil, map[string]string{"Sec-Fetch-Site": "cross-site"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	s, _ := e.sils.Get(id)
	require.Equal(t, silences.StateActive, s.State(time.Now()))
}

func TestUIBadFilter(t *testing.T) {
	e := newUIEnv(t, Options{})
	for _, p := range []string{"/", "/silences"} {
		code, body := get(t, e.base+p+"?filter="+url.QueryEscape(`{severity="page",team=~"db.*}`))
		require.Equal(t, http.StatusBadRequest, code)
		require.Contains(t, body, "bad matcher syntax")
		require.Contains(t, body, `aria-invalid="true"`)
		require.Contains(t, body, `value="{severity=&#34;page&#34;,team=~&#34;db.*}"`, "the filter stays in the box")
	}
	code, body := get(t, e.base+"/routes?labels="+url.QueryEscape("severity=~page"))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "not matchers")
}

func TestUIFilterAndPaging(t *testing.T) {
	e := newUIEnv(t, Options{})
	var alerts []model.LabelSet
	for i := range 120 {
		alerts = append(alerts, model.LabelSet{"alertname": model.LabelValue(fmt.Sprintf("A%03d", i)), "team": "db", "i": model.LabelValue(fmt.Sprint(i))})
	}
	alerts = append(alerts, model.LabelSet{"alertname": "Other", "team": "web"})
	e.put(t, alerts...)
	_, body := get(t, e.base+"/")
	require.Contains(t, body, "121 groups (by route)")
	require.Contains(t, body, "Page 1 of 3")
	require.Contains(t, body, `href="/?filter=&amp;page=2" rel="next"`)
	_, body = get(t, e.base+"/?page=3")
	require.Contains(t, body, "Other")
	require.Contains(t, body, "Page 3 of 3")
	_, body = get(t, e.base+"/?filter="+url.QueryEscape(`{team=~"w.*"}`))
	require.Contains(t, body, "1 group (by route)")
	require.Contains(t, body, `Silence what this filter matches`)
	_, body = get(t, e.base+"/?group_by=team")
	require.Contains(t, body, "2 groups by <code>team</code>")
	require.Contains(t, body, "95 more alerts in this group: <a href=\"/?group_by=team&amp;filter=%7Bteam%3D%22db%22%7D\">show only this group</a>")
}

func TestUIUnderExternalURL(t *testing.T) {
	u, _ := url.Parse("http://example.com/alerter/")
	e := newUIEnv(t, Options{ExternalURL: u})
	e.put(t, model.LabelSet{"alertname": "Down"})
	code, body := get(t, e.base+"/")
	require.Equal(t, http.StatusOK, code)
	for _, w := range []string{`href="/alerter/silences"`, `href="/alerter/static/style.css?v=`, `src="/alerter/static/ui.js?v=`, `action="/alerter/"`, `href="/alerter/silences/new?labels=`, `href="/alerter/alerts/`, `data-live="/alerter/?live=1"`} {
		require.Contains(t, body, w)
	}
	require.NotContains(t, body, `href="/silences"`)
	code, _ = get(t, e.base+"/static/ui.js")
	require.Equal(t, http.StatusOK, code)

	resp, _ := post(t, e.base+"/silences", url.Values{"matchers": {`alertname="Down"`}, "duration": {"1h"}, "createdBy": {"a"}, "comment": {"b"}}, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/alerter/silences/"))
	// A browser behind a proxy sends the external URL as its origin.
	resp, _ = post(t, e.base+"/silences", url.Values{"matchers": {`alertname="Down"`}, "duration": {"1h"}, "createdBy": {"a"}, "comment": {"b"}},
		map[string]string{"Sec-Fetch-Site": "", "Origin": "http://example.com"})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestFmtDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 250 * time.Millisecond: "250ms", 90 * time.Second: "1m 30s", 26 * time.Hour: "1d 2h",
		time.Hour: "1h", 49*time.Hour + 5*time.Minute: "2d 1h",
	} {
		require.Equal(t, want, fmtDuration(d), d.String())
	}
	require.Equal(t, "1,234,567", commas(1234567))
	require.Equal(t, "in 1h", relTime(ts, ts.Add(time.Hour)))
}

func TestParseLabelList(t *testing.T) {
	ls, err := parseLabelList(config.SyntaxFallback, "alertname=\"Disk Full\", severity=page\nteam=\"db,ops\"")
	require.NoError(t, err)
	require.Equal(t, model.LabelSet{"alertname": "Disk Full", "severity": "page", "team": "db,ops"}, ls)
	_, err = parseLabelList(config.SyntaxFallback, "  ")
	require.Error(t, err)
}

// matcherString writes what labels.Matcher.String writes, and the filter
// box parses it back to the same matcher.
func TestMatcherString(t *testing.T) {
	for _, c := range []struct{ name, value string }{
		{"team", "db"}, {"a", `q"uote`}, {"b", `back\\slash`}, {"c", "new\nline"}, {"サービス", "☃"}, {"x.y", "1"}, {"e", ""},
	} {
		for _, op := range []labels.MatchType{labels.MatchEqual, labels.MatchNotEqual} {
			want := (&labels.Matcher{Type: op, Name: c.name, Value: c.value}).String()
			got := matcherString(c.name, op, c.value)
			require.Equal(t, want, got)
			ms, err := parseMatcherExpr(config.SyntaxUTF8, "{"+got+"}")
			require.NoError(t, err, got)
			require.Len(t, ms, 1)
			require.Equal(t, c.name, ms[0].Name)
			require.Equal(t, c.value, ms[0].Value)
			require.Equal(t, op, ms[0].Type)
		}
	}
}

// Silences are found by their author or a word of their comment as well
// as by matchers; ticked ones expire at once; an edit that replaced a
// silence links the old and the new one.
func TestUISilenceSearchBulkAndReplace(t *testing.T) {
	e := newUIEnv(t, Options{})
	e.put(t, model.LabelSet{"alertname": "Down", "svc": "a"})
	mk := func(matchers, by, comment string) string {
		ms, err := parseMatcherExpr(config.SyntaxFallback, matchers)
		require.NoError(t, err)
		id, err := e.sils.Set(context.Background(), silences.Silence{Matchers: ms, EndsAt: time.Now().Add(time.Hour), CreatedBy: by, Comment: comment})
		require.NoError(t, err)
		return id
	}
	a := mk(`{alertname="Down"}`, "Zoë Dupont", "disk swap OPS-42")
	b := mk(`{svc="b"}`, "sam", "network maintenance")
	c := mk(`{svc="c"}`, "sam", "deploy")

	_, body := get(t, e.base+"/silences?filter=zo%C3%AB")
	require.Contains(t, body, a)
	require.NotContains(t, body, b)
	require.Contains(t, body, "Searched as text.")
	_, body = get(t, e.base+"/silences?filter=MAINTENANCE")
	require.Contains(t, body, b)
	require.NotContains(t, body, a)
	code, body := get(t, e.base+"/silences?filter="+url.QueryEscape(`{svc="b"}`))
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, b)
	require.NotContains(t, body, c)
	code, body = get(t, e.base+"/silences?filter="+url.QueryEscape(`{svc=~"(}`))
	require.Equal(t, http.StatusBadRequest, code, "broken matchers are an error, not a text search")
	require.Contains(t, body, "bad matcher syntax")

	// Bulk expire b and c; a stays.
	resp, _ := post(t, e.base+"/silences/expire", url.Values{"id": {b, c}, "state": {"active"}}, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = get(t, e.base+resp.Header.Get("Location"))
	require.Contains(t, body, "Expired 2 silences.")
	require.Contains(t, body, a)
	require.NotContains(t, body, b)
	for _, id := range []string{b, c} {
		s, err := e.sils.Get(id)
		require.NoError(t, err)
		require.Equal(t, silences.StateExpired, s.State(time.Now()))
	}
	resp, _ = post(t, e.base+"/silences/expire", url.Values{}, nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// Edit a's matchers: a new silence replaces it; each links the other.
	s, err := e.sils.Get(a)
	require.NoError(t, err)
	resp, body = post(t, e.base+"/silences", url.Values{
		"id": {a}, "matchers": {`{alertname="Down", svc="a"}`}, "startsAt": {s.StartsAt.UTC().Format(formTime)},
		"duration": {"1h"}, "createdBy": {"Zoë Dupont"}, "comment": {"narrower"}, "action": {"save"},
	}, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	loc := resp.Header.Get("Location")
	newID := strings.TrimSuffix(strings.TrimPrefix(loc, "/silences/"), "?done=saved")
	require.NotEqual(t, a, newID)
	_, body = get(t, e.base+loc)
	require.Contains(t, body, `<a href="/silences/`+a+`" id="replaces">`)
	_, body = get(t, e.base+"/silences/"+a)
	require.Contains(t, body, `<a href="/silences/`+newID+`" id="replaced-by">`)
}

// summarizingHistory adds receiver summaries to fakeHistory.
type summarizingHistory struct {
	*fakeHistory
	sums []ReceiverSummary
}

func (s summarizingHistory) Summary(_ context.Context, receivers []string, _ time.Time) ([]ReceiverSummary, error) {
	return s.sums, nil
}

// The notifications page folds each notification's retries into one row
// with the attempt count and the final outcome, filters by outcome and by
// alert, and sums up each receiver.
func TestUINotificationsFolded(t *testing.T) {
	hist := &fakeHistory{}
	e := newUIEnv(t, Options{})
	sh := summarizingHistory{fakeHistory: hist, sums: []ReceiverSummary{{
		Receiver: "pager", LastSuccess: ts.Add(-time.Hour), LastFailure: ts, LastError: "502 from the pager", LastReason: "serverError",
		Attempts: 40, Failures: 12,
	}}}
	srv := newTestServer(t, Options{Routing: e.routing, Silences: e.sils, Notifications: sh})
	at := func(min int) time.Time { return ts.Add(time.Duration(min) * time.Second) }
	attempt := func(id int64, sec int, rcv, group, alert string, n int, errMsg string) Notification {
		return Notification{ID: id, AlertsTotal: 1, Attempt: dispatch.Attempt{
			At: at(sec), Receiver: rcv, Integration: "webhook/0", GroupKey: group, Status: "firing",
			Alerts: []model.LabelSet{{"alertname": model.LabelValue(alert)}}, Attempt: n, Err: errMsg,
		}}
	}
	// Newest first: group A failed after 3 attempts; group B sent at the
	// second; group A's earlier notification sent at once.
	hist.entries = []Notification{
		attempt(7, 60, "pager", "A", "Disk", 3, "502 from the pager"),
		attempt(6, 59, "pager", "B", "Cpu", 2, ""),
		attempt(5, 58, "pager", "A", "Disk", 2, "502 from the pager"),
		attempt(4, 57, "pager", "B", "Cpu", 1, "timeout"),
		attempt(3, 56, "pager", "A", "Disk", 1, "502 from the pager"),
		attempt(2, 10, "pager", "A", "Disk", 1, ""),
	}
	_, body := get(t, srv.URL+"/notifications")
	require.Equal(t, 3, strings.Count(body, `<td data-label="Outcome">`), "three notifications, not six attempts")
	require.Contains(t, body, "3 attempts, last")
	require.Contains(t, body, "2 attempts, last")
	require.Contains(t, body, "12 of 40 (30%)")
	require.Contains(t, body, "502 from the pager <code>serverError</code>")

	_, body = get(t, srv.URL+"/notifications?outcome=failed")
	require.Equal(t, 1, strings.Count(body, `<td data-label="Outcome">`), "only group A's last notification failed in the end")
	require.NotContains(t, body, "timeout", "B's failed first attempt is folded into its success")
	_, body = get(t, srv.URL+"/notifications?alert="+url.QueryEscape(`{alertname="Cpu"}`))
	require.Equal(t, 1, strings.Count(body, `<td data-label="Outcome">`))
	require.Contains(t, body, "alertname=&#34;Cpu&#34;")
	code, _ := get(t, srv.URL+"/notifications?outcome=maybe")
	require.Equal(t, http.StatusBadRequest, code)
}

// pingQuerier answers the status page's ping with err.
type pingQuerier struct{ err error }

func (q pingQuerier) Query(context.Context, string, time.Time) (promql.Vector, error) {
	return promql.Vector{}, q.err
}

// listedRules adds datasources to a fixed rule source.
type listedRules struct {
	fakeRules
	ds map[string]evaluator.Datasource
}

func (l listedRules) Datasources() map[string]evaluator.Datasource { return l.ds }

// A datasource's health is its answer to a ping: one rule's bad query
// does not make a healthy datasource ERR, and a datasource that does not
// answer is ERR even before any rule failed.
func TestUIDatasourceHealthFromPing(t *testing.T) {
	rules := listedRules{
		fakeRules: fakeRules{{Name: "g", Datasource: "prom", Rules: []evaluator.RuleStatus{
			{Name: "Bad", Health: evaluator.HealthErr, LastError: "bad_data: parse error", Last: evaluator.Evaluation{Time: ts, Err: "bad_data: parse error"},
				History: []evaluator.Evaluation{{Time: ts, Err: "bad_data: parse error"}}},
			{Name: "Good", Health: evaluator.HealthOK, History: []evaluator.Evaluation{{Time: ts.Add(-time.Minute)}}},
		}}},
		ds: map[string]evaluator.Datasource{
			"prom": {Name: "prom", Querier: pingQuerier{}},
			"down": {Name: "down", Querier: pingQuerier{err: errors.New("dial tcp 127.0.0.1:1: connection refused")}},
		},
	}
	srv := newTestServer(t, Options{Rules: rules})
	_, body := get(t, srv.URL+"/status")
	rows := strings.Split(body, "<tr>")
	var prom, down string
	for _, r := range rows {
		switch {
		case strings.Contains(r, "<strong>prom</strong>"):
			prom = r
		case strings.Contains(r, "<strong>down</strong>"):
			down = r
		}
	}
	require.Contains(t, prom, `<span class="badge ok">ok</span>`)
	require.Contains(t, prom, "answered in")
	require.Contains(t, prom, "1 failing</a>; latest, Bad: bad_data: parse error")
	require.Contains(t, down, `<span class="badge err">err</span>`)
	require.Contains(t, down, "ping failed: dial tcp 127.0.0.1:1: connection refused")
}

// The rules page filters by state and health; a failing group comes
// first; a group none of whose rules was evaluated is "unknown", not ok.
func TestUIRulesFilters(t *testing.T) {
	gs := groups()
	gs = append(gs, evaluator.GroupStatus{Key: "t.yml;db", File: "t.yml", Name: "db", LastEvaluation: ts,
		Rules: []evaluator.RuleStatus{{Name: "DBDown", Alerting: true, Query: "up == 0", Health: evaluator.HealthErr, LastError: "bad_data"}}})
	srv := newTestServer(t, Options{Rules: gs})
	_, body := get(t, srv.URL+"/rules")
	db, web, nightly := strings.Index(body, "<strong>db</strong>"), strings.Index(body, "<strong>web</strong>"), strings.Index(body, "<strong>nightly</strong>")
	require.True(t, db >= 0 && db < web && web < nightly, "failing, then firing, then the rest")
	nightlyGroup := body[nightly:]
	require.Contains(t, nightlyGroup[:400], `<span class="badge unknown">unknown</span>`, "never evaluated is not ok")

	_, body = get(t, srv.URL+"/rules?state=firing")
	require.Contains(t, body, "HighErrors")
	require.NotContains(t, body, "DBDown")
	require.NotContains(t, body, "job:errors:rate", "recording rules have no state")
	_, body = get(t, srv.URL+"/rules?health=err")
	require.Contains(t, body, "DBDown")
	require.NotContains(t, body, "HighErrors")
	_, body = get(t, srv.URL+"/rules?health=unknown")
	require.Contains(t, body, "Never")
	require.Contains(t, body, "job:errors:rate")
	require.NotContains(t, body, "DBDown")
	code, _ := get(t, srv.URL+"/rules?state=bogus")
	require.Equal(t, http.StatusBadRequest, code)
}

// FuzzMatcherString: whatever label a user's alert has, its filter link's
// matcher reads back as the same matcher, and what a user types into a
// filter box never panics.
func FuzzMatcherString(f *testing.F) {
	for _, seed := range [][2]string{{"team", "db"}, {"a", `q"u\ote`}, {"サービス", "☃\n"}, {"x.y", ""}, {"le", "{}"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		_, _ = parseMatcherExpr(config.SyntaxUTF8, name+value)
		_, _ = parseMatcherExpr(config.SyntaxFallback, value)
		if name == "" || !utf8.ValidString(name) || !utf8.ValidString(value) {
			return
		}
		for _, op := range []labels.MatchType{labels.MatchEqual, labels.MatchNotEqual} {
			s := matcherString(name, op, value)
			require.Equal(t, (&labels.Matcher{Type: op, Name: name, Value: value}).String(), s)
			ms, err := parseMatcherExpr(config.SyntaxUTF8, "{"+s+"}")
			require.NoError(t, err, s)
			require.Len(t, ms, 1, s)
			require.Equal(t, name, ms[0].Name)
			require.Equal(t, value, ms[0].Value)
		}
	})
}
