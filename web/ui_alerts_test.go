package web

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/dispatch"
)

// fakeEvents is a timeline store holding fixed timelines.
type fakeEvents struct{ tls []AlertTimeline }

func (f *fakeEvents) Timeline(_ context.Context, q TimelineQuery) ([]AlertTimeline, bool, error) {
	var out []AlertTimeline
	for _, tl := range f.tls {
		want := len(q.Fingerprints) == 0 && q.Matchers.Matches(tl.Labels)
		for _, fp := range q.Fingerprints {
			want = want || fp == tl.Fingerprint
		}
		if want {
			out = append(out, tl)
		}
	}
	return out, false, nil
}

// hrefs returns the targets of the links with class cls, unescaped.
func hrefs(body, cls string) []string {
	re := regexp.MustCompile(`<a class="` + cls + `" href="([^"]*)"`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// Clicking labels narrows the filter: a label's link adds name="value"
// to the matchers already there (and keeps the other parameters); its
// exclude link adds name!="value"; a filter chip's × drops its matcher.
func TestUIAlertLabelFilters(t *testing.T) {
	e := newUIEnv(t, Options{})
	e.put(t,
		model.LabelSet{"alertname": "Slow", "svc": "a", "team": "db", "instance": "h1"},
		model.LabelSet{"alertname": "Slow", "svc": "b", "team": "db", "instance": "h2"},
		model.LabelSet{"alertname": "Slow", "svc": "c", "team": "web", "instance": "h3"},
	)
	_, body := get(t, e.base+"/?group_by=alertname&inhibited=1")
	links := hrefs(body, "label")
	require.NotEmpty(t, links)
	var teamDB string
	for _, l := range links {
		if strings.Contains(l, url.QueryEscape(`team="db"`)) {
			teamDB = l
		}
	}
	require.NotEmpty(t, teamDB, "the team label is a filter link")
	require.Contains(t, teamDB, "group_by=alertname")
	require.Contains(t, teamDB, "inhibited=1")
	_, body = get(t, e.base+teamDB)
	require.Contains(t, body, "2 alerts on this page")
	require.NotContains(t, body, `svc="c"`)

	// Exclude svc=a from there: the exclude link of svc a's label.
	var exclude string
	for _, m := range regexp.MustCompile(`data-exclude="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		if u := html.UnescapeString(m[1]); strings.Contains(u, url.QueryEscape(`svc!="a"`)) {
			exclude = u
		}
	}
	require.NotEmpty(t, exclude)
	_, body = get(t, e.base+exclude)
	require.Contains(t, body, "1 alert on this page")
	require.Contains(t, body, `<code>team=&#34;db&#34;</code>`, "the filter shows as chips")
	require.Contains(t, body, `<code>svc!=&#34;a&#34;</code>`)

	// The chip of team="db" removes it: svc b and c remain.
	remove := regexp.MustCompile(`<code>team=&#34;db&#34;</code> <a href="([^"]*)"`).FindStringSubmatch(body)
	require.NotNil(t, remove)
	_, body = get(t, e.base+html.UnescapeString(remove[1]))
	require.Contains(t, body, "2 alerts on this page")
}

// The live part answers 304 to the ETag of what it shows until an alert
// changes, then the new part, without the page around it.
func TestUIAlertsLiveETag(t *testing.T) {
	e := newUIEnv(t, Options{})
	e.put(t, model.LabelSet{"alertname": "Down", "svc": "a"})
	fetch := func(etag string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodGet, e.base+"/?live=1", nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header.Get("ETag"), string(b)
	}
	code, etag, body := fetch("")
	require.Equal(t, http.StatusOK, code)
	require.NotEmpty(t, etag)
	require.NotContains(t, body, "<html", "only the live part")
	require.Contains(t, body, "1 firing")
	code, _, body = fetch(etag)
	require.Equal(t, http.StatusNotModified, code)
	require.Empty(t, body)

	e.put(t, model.LabelSet{"alertname": "Up", "svc": "b"})
	code, etag2, body := fetch(etag)
	require.Equal(t, http.StatusOK, code)
	require.NotEqual(t, etag, etag2)
	require.Contains(t, body, "2 firing")
	require.Contains(t, body, ">Up</a>")
}

// An alert's page: its labels as filter links (keep and exclude), URL
// annotations as links (http and https only), links to its rule, source
// and timeline, and the timeline's events with the silence's author.
func TestUIAlertPage(t *testing.T) {
	ev := &fakeEvents{}
	e := newUIEnv(t, Options{Events: ev})
	ls := model.LabelSet{"alertname": "DiskFull", "instance": "db-1", "team": "db"}
	require.NoError(t, e.routing.store.Put([]*dispatch.Alert{{
		Labels: ls, StartsAt: time.Now().Add(-time.Hour), GeneratorURL: "http://prom.example/graph?g0.expr=x",
		Annotations: model.LabelSet{
			"summary": "disk full", "runbook_url": "https://runbooks.example/disk", "dashboard": "javascript:alert(1)",
			"note": "see http://x (not a link: not the whole value)",
		},
	}}))
	fp := ls.Fingerprint()
	ev.tls = []AlertTimeline{{Fingerprint: fp, Labels: ls, Events: []dispatch.Event{
		{At: time.Now().Add(-time.Hour), Kind: dispatch.EventFiring, Rule: "disk/DiskFull", Value: "97"},
		{At: time.Now().Add(-50 * time.Minute), Kind: dispatch.EventFailed, Receiver: "team", Integration: "webhook/0",
			Attempts: 3, Error: "unexpected status code 502"},
	}}}
	code, body := get(t, e.base+"/alerts/"+fp.String())
	require.Equal(t, http.StatusOK, code, body)
	for _, w := range []string{
		`<a href="https://runbooks.example/disk" rel="noopener noreferrer">`, "javascript:alert(1)</dd>",
		`href="/?filter=%7Bteam%3D%22db%22%7D"`, `href="/?filter=%7Bteam%21%3D%22db%22%7D"`,
		`href="/rules?q=DiskFull"`, `href="http://prom.example/graph?g0.expr=x"`,
		"rule disk/DiskFull fires it (value 97)", "notifying team (webhook/0) failed after 3 attempts: unexpected status code 502",
		`href="/silences/new?labels=`,
	} {
		require.Contains(t, body, w)
	}
	require.NotContains(t, body, `href="javascript:`)
	// On the alerts page, the runbook is a link on the alert's line, the
	// dashboard (not http) is not.
	_, body = get(t, e.base+"/")
	require.Contains(t, body, `<a class="ann-link" href="https://runbooks.example/disk"`)
	require.NotContains(t, body, `javascript:`)
	require.Contains(t, body, `href="/alerts/`+fp.String()+`"`)

	code, _ = get(t, e.base+"/alerts/0123456789abcdef")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = get(t, e.base+"/alerts/nope")
	require.Equal(t, http.StatusBadRequest, code)
}

// The group's Silence link offers its shared labels with the group labels
// ticked, not the instance; saving with what is ticked silences the whole
// group, the next instance included.
func TestUISilenceByTickedLabels(t *testing.T) {
	e := newUIEnv(t, Options{})
	e.put(t, model.LabelSet{"alertname": "Down", "instance": "h1", "team": "web", "severity": "page"})
	_, body := get(t, e.base+"/")
	links := regexp.MustCompile(`<a class="btn small" href="([^"]*)">Silence group`).FindAllStringSubmatch(body, -1)
	require.Len(t, links, 1)
	_, form := get(t, e.base+html.UnescapeString(links[0][1]))
	require.Contains(t, form, `name="tick" value="alertname=&#34;Down&#34;" checked>`)
	require.Contains(t, form, `name="tick" value="instance=&#34;h1&#34;">`, "the instance is offered, not ticked")
	require.Contains(t, form, "1</strong> active alert matches")
	offered := regexp.MustCompile(`name="offered" value="([^"]*)"`).FindStringSubmatch(form)
	require.NotNil(t, offered)

	resp, body := post(t, e.base+"/silences", url.Values{
		"offered": {html.UnescapeString(offered[1])}, "tick": {`alertname="Down"`}, "matchers": {""},
		"duration": {"1h"}, "createdBy": {"ann"}, "comment": {"deploy"}, "action": {"save"},
	}, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	e.put(t, model.LabelSet{"alertname": "Down", "instance": "h2", "team": "web", "severity": "page"})
	_, body = get(t, e.base+"/")
	require.Contains(t, body, "2 silenced (hidden)", "the next instance is silenced too")

	// Nothing ticked and nothing typed: the form says what is missing and
	// keeps the offer.
	resp, body = post(t, e.base+"/silences", url.Values{
		"offered": {html.UnescapeString(offered[1])}, "duration": {"1h"}, "createdBy": {"ann"}, "comment": {"x"}, "action": {"save"},
	}, nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "tick a label or type one")
	require.Contains(t, body, `name="tick" value="alertname=&#34;Down&#34;">`)
}

// The timeline shows where the routing tree put an alert before the first
// event of each of its groups.
func TestWithRouting(t *testing.T) {
	evs := withRouting([]dispatch.Event{
		{Kind: dispatch.EventFiring},
		{Kind: dispatch.EventSent, Receiver: "a", GroupKey: "ga"},
		{Kind: dispatch.EventSilenced, Receiver: "b", GroupKey: "gb"},
		{Kind: dispatch.EventDeduplicated, Receiver: "a", GroupKey: "ga"},
	})
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Kind+" "+ev.Receiver)
	}
	require.Equal(t, []string{"firing ", "routed a", "sent a", "routed b", "silenced b", "deduplicated a"}, got)
}

// Labels every alert on the page has (cluster="eu-1") are shown once
// above the groups, not on each line.
func TestUISharedLabelsShownOnce(t *testing.T) {
	e := newUIEnv(t, Options{})
	e.put(t,
		model.LabelSet{"alertname": "Slow", "cluster": "eu-1", "instance": "h1"},
		model.LabelSet{"alertname": "Down", "cluster": "eu-1", "instance": "h2"},
	)
	_, body := get(t, e.base+"/")
	require.Contains(t, body, `Every alert here has</span> <a class="label" href="/?filter=%7Bcluster%3D%22eu-1%22%7D"`)
	require.Equal(t, 1, strings.Count(body, `<span class="ln">cluster</span>`), "once, not per line")
	require.Equal(t, 2, strings.Count(body, `<span class="ln">instance</span>`))
	e.put(t, model.LabelSet{"alertname": "Other", "cluster": "us-1"})
	_, body = get(t, e.base+"/")
	require.NotContains(t, body, "Every alert here has")
}
