package web

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/silences"
)

//go:embed testdata/audit.js
var auditJS string

// audit runs the accessibility audit on the page and fails on a critical
// or serious violation.
func (b *browser) audit(where string) {
	b.t.Helper()
	var res struct {
		Checked    int `json:"checked"`
		Violations []struct {
			Rule, Impact, Element, Detail string
		} `json:"violations"`
	}
	require.NoError(b.t, json.Unmarshal([]byte(b.eval(auditJS)), &res))
	require.Positive(b.t, res.Checked, "the contrast check found no text on %s", where)
	var bad []string
	for _, v := range res.Violations {
		if v.Impact == "critical" || v.Impact == "serious" {
			bad = append(bad, fmt.Sprintf("%s (%s): %s %s", v.Rule, v.Impact, v.Element, v.Detail))
		}
	}
	require.Empty(b.t, bad, "accessibility violations on %s", where)
}

// waitJS polls a JavaScript condition, also across a navigation (which
// chromedp.Poll does not survive), every 100 ms for at most d.
func (b *browser) waitJS(cond string, d time.Duration, msg string) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: %s still false after %s (last error: %v)", msg, cond, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrowserOnCall runs an on-call engineer's day in Chromium: filter by
// clicking a label and excluding another, group by two labels, silence a
// group by its ticked labels in one tab and watch it leave the alerts page
// of another without a reload, find the silence by its author, follow a
// runbook link, open an alert's timeline with a silence and a failed
// delivery on it; each page passes the accessibility audit, light and
// dark, and is shot at 1366 and 390 px.
func TestBrowserOnCall(t *testing.T) {
	runbook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>Runbook</title><h1 id="runbook">Runbook: DiskFull</h1>`)
	}))
	t.Cleanup(runbook.Close)
	ev := &fakeEvents{}
	e := newUIEnv(t, Options{Events: ev})
	now := time.Now()
	var alerts []*dispatch.Alert
	add := func(ls model.LabelSet, summary string, ago time.Duration, extra model.LabelSet) {
		ann := model.LabelSet{"summary": model.LabelValue(summary),
			"description": "A long description of what is wrong, what it means for users, and what to look at first, repeated so that it wraps: " +
				"the disk holds the database's write-ahead log; when it fills, writes stop."}
		for k, v := range extra {
			ann[k] = v
		}
		alerts = append(alerts, &dispatch.Alert{Labels: ls, Annotations: ann, StartsAt: now.Add(-ago)})
	}
	add(model.LabelSet{"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical", "svc": "db", "team": "db", "job": "node", "cluster": "eu-1", "region": "eu"},
		"Disk almost full on db-1", 42*time.Minute, model.LabelSet{"runbook_url": model.LabelValue(runbook.URL + "/DiskFull")})
	for i, team := range []string{"db", "db", "web", "web", "web"} {
		sev := "warning"
		if i == 0 {
			sev = "info"
		}
		add(model.LabelSet{"alertname": "HighLatency", "instance": model.LabelValue(fmt.Sprintf("%s-%d:8080", team, i)), "severity": model.LabelValue(sev),
			"svc": model.LabelValue("api-" + team), "team": model.LabelValue(team), "job": "api", "cluster": "eu-1", "region": "eu"},
			fmt.Sprintf("p99 latency above 2s on %s-%d", team, i), time.Duration(i+1)*time.Hour, nil)
	}
	add(model.LabelSet{"alertname": "CertExpiring", "instance": "lb-1", "severity": "warning", "svc": "edge", "team": "edge", "job": "blackbox", "cluster": "eu-1", "region": "eu"},
		"TLS certificate expires in 6 days", 26*time.Hour, nil)
	require.NoError(t, e.routing.store.Put(alerts))

	// DiskFull's timeline: silenced by a real silence, then a failed
	// delivery (the silence expired since).
	ms, err := parseMatcherExpr(config.SyntaxFallback, `{alertname="DiskFull"}`)
	require.NoError(t, err)
	sid, err := e.sils.Set(context.Background(), silences.Silence{Matchers: ms, EndsAt: now.Add(time.Hour), CreatedBy: "ann", Comment: "disk swap OPS-42"})
	require.NoError(t, err)
	require.NoError(t, e.sils.Expire(context.Background(), sid))
	disk := alerts[0].Labels
	ev.tls = []AlertTimeline{{Fingerprint: disk.Fingerprint(), Labels: disk, Events: []dispatch.Event{
		{At: now.Add(-42 * time.Minute), Kind: dispatch.EventFiring, Rule: "node/DiskFull", Value: "0.97"},
		{At: now.Add(-41 * time.Minute), Kind: dispatch.EventRouted, Receiver: "critical", GroupKey: `{}/{severity="critical"}:{alertname="DiskFull"}`},
		{At: now.Add(-40 * time.Minute), Kind: dispatch.EventSilenced, Receiver: "critical", Silences: []string{sid}},
		{At: now.Add(-29 * time.Minute), Kind: dispatch.EventFailed, Receiver: "critical", Integration: "webhook/0", Attempts: 4,
			Error: "Post \"http://pager.example/hook\": context deadline exceeded", Reason: dispatch.ReasonDeadlineExceeded},
	}}}

	b := newBrowser(t, e.base)
	t.Logf("screenshots in %s", b.dir)
	count := `document.querySelectorAll("li.alert").length`

	// Filter by clicking team="db" on a line.
	b.open("/?group_by=alertname", "li.alert")
	b.audit("the alerts page")
	// One line per alert at 1366 px, however long the description.
	b.do(chromedp.EmulateViewport(1366, 800))
	tallest := b.eval(`String(Math.max.apply(null, Array.from(document.querySelectorAll("li.alert")).map(e => e.getBoundingClientRect().height)))`)
	require.Contains(t, []string{"40", "41", "42", "43", "44", "45", "46", "47", "48"}, strings.SplitN(tallest, ".", 2)[0], "an alert's line is %s px tall", tallest)
	b.shoot("oncall-alerts")
	b.do(chromedp.Click(chromedp.CSS(`li.alert a.label[href*="team%3D%22db%22"]`)), chromedp.WaitVisible(chromedp.CSS("ul.chips")))
	require.Equal(t, "3", b.eval(`String(`+count+`)`), "DiskFull and two HighLatency of team db")
	require.Contains(t, b.text("ul.chips"), `team="db"`)
	// Alt-click svc="db" excludes it: the two HighLatency remain.
	b.eval(`(function(){var a=document.querySelector('li.alert a.label[href*="svc%3D%22db%22"]'); a.dispatchEvent(new MouseEvent("click",{altKey:true,bubbles:true,cancelable:true})); return "";})()`)
	b.waitJS(`document.querySelector("ul.chips") && document.querySelector("ul.chips").textContent.includes('svc!="db"')`, 10*time.Second, "the exclusion is in the filter")
	require.Equal(t, "2", b.eval(`String(`+count+`)`))
	require.NotContains(t, b.text("#live"), "DiskFull")
	// From the keyboard: Alt-Enter on a focused label excludes it too.
	b.eval(`document.querySelector('li.alert a.label[href*="instance%3D%22db-0%3A8080%22"]').focus(); ""`)
	b.do(chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	b.waitJS(`document.querySelector("ul.chips") && document.querySelector("ul.chips").textContent.includes('instance!="db-0:8080"')`, 10*time.Second, "Alt-Enter excludes")
	require.Equal(t, "1", b.eval(`String(`+count+`)`))

	// The filter completes label names, then values.
	b.open("/", "#filter")
	b.do(chromedp.SendKeys(chromedp.CSS("#filter"), "tea"))
	b.waitJS(`Array.from(document.querySelectorAll("#filter-completions option")).some(o => o.value === "{team=")`, 10*time.Second, "label names complete")
	b.eval(`(function(){var f=document.getElementById("filter"); f.value='{team="w'; f.dispatchEvent(new Event("input")); return "";})()`)
	b.waitJS(`Array.from(document.querySelectorAll("#filter-completions option")).map(o => o.value).join(" ") === '{team="web"}'`, 10*time.Second, "label values complete")
	// Close the suggestions: a native popup left open stalls headless
	// Chromium's screenshots.
	b.eval(`document.getElementById("filter-completions").textContent = ""; document.activeElement.blur(); ""`)

	// Group by two labels.
	b.open("/", "#group_by")
	b.do(chromedp.SendKeys(chromedp.CSS("#group_by"), "team,severity"), chromedp.Submit(chromedp.CSS("#group_by")),
		chromedp.WaitVisible(chromedp.CSS(`section.group[aria-label="Group severity=warning team=web "]`)))
	require.Contains(t, b.text("#counts"), "by team,severity")
	require.Equal(t, "5", b.eval(`String(document.querySelectorAll("section.group").length)`), "db/critical, db/info, db/warning, edge/warning, web/warning")
	b.shoot("oncall-grouped")

	// Silence the web team's HighLatency group from a second tab, by its
	// ticked labels; this tab sees the group leave without a reload.
	b.open("/", "li.alert")
	b.eval(`window.notReloaded = true; ""`)
	group := `Array.from(document.querySelectorAll("section.group")).find(s => s.textContent.includes("→ team") && s.textContent.includes("HighLatency"))`
	silenceURL := b.eval(group + `.querySelector("a.btn.small").getAttribute("href")`)
	require.Contains(t, silenceURL, "tick=")
	tab, cancelTab := chromedp.NewContext(b.ctx)
	defer cancelTab()
	err = chromedp.Do(tab, chromedp.Navigate(e.base+strings.TrimPrefix(silenceURL, e.base)), chromedp.WaitVisible(chromedp.CSS("#ticks")))
	require.NoError(t, err)
	ticked, err := chromedp.Run(tab, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('input[name="tick"]:checked')).map(e => e.value).join(" ")`))
	require.NoError(t, err)
	require.Equal(t, `alertname="HighLatency"`, ticked, "the group's labels ticked, not the instance")
	err = chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#createdBy"), "Zoë on-call"),
		chromedp.SendKeys(chromedp.CSS("#comment"), "latency: deploy rollback in progress"),
		chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	require.NoError(t, err)
	b.waitJS(`!(`+group+`)`, 20*time.Second, "the silenced group leaves the page")
	require.Equal(t, "true", b.eval(`String(window.notReloaded === true)`), "live update, not a reload")
	require.Contains(t, b.text("#counts"), "5 silenced")
	require.Contains(t, b.text("#live-age"), "updated")

	// Find the silence by its author.
	b.open("/silences", "#filter")
	b.do(chromedp.SendKeys(chromedp.CSS("#filter"), "zoë"), chromedp.Submit(chromedp.CSS("#filter")), chromedp.WaitVisible(chromedp.CSS("article.silence")))
	require.Contains(t, b.text("article.silence"), "latency: deploy rollback in progress")
	require.Equal(t, "1", b.eval(`String(document.querySelectorAll("article.silence").length)`))
	b.audit("the silences page")
	b.shoot("oncall-silences")

	// Follow DiskFull's runbook link.
	b.open("/", `li.alert a.ann-link`)
	b.do(chromedp.Click(chromedp.CSS(`li.alert a.ann-link`)), chromedp.WaitVisible(chromedp.CSS("#runbook")))
	require.Equal(t, "Runbook: DiskFull", b.text("#runbook"))

	// DiskFull's page and timeline: the silence (who, why) and the
	// failed delivery.
	b.open("/", "li.alert")
	b.do(chromedp.Click(chromedp.CSS(`li.alert a.alertname[href*="`+disk.Fingerprint().String()+`"]`)), chromedp.WaitVisible(chromedp.CSS("ol.timeline")))
	tl := b.text("ol.timeline")
	require.Contains(t, tl, "silenced by silence "+sid+" by ann (\"disk swap OPS-42\"")
	require.Contains(t, tl, "notifying critical (webhook/0) failed after 4 attempts: Post")
	require.Contains(t, b.eval(`document.querySelector("li.kind-failed").textContent`), "context deadline exceeded")
	b.do(chromedp.Click(chromedp.CSS(`ol.timeline a[href$="/silences/`+sid+`"]`)), chromedp.WaitVisible(chromedp.CSS(".silence-comment")))
	require.Contains(t, b.text(".silence-comment"), "disk swap OPS-42")
	b.open("/alerts/"+disk.Fingerprint().String(), "ol.timeline")
	b.audit("an alert's page")
	b.shoot("oncall-alert")

	// The notifications, rules and status pages pass the audit too, and
	// everything again in dark mode.
	for _, p := range []struct{ path, wait string }{{"/notifications", "h1"}, {"/rules", "article.rule"}, {"/status", "pre.config"}, {"/silences/new?labels=" + strings.ReplaceAll(labelSetExpr(disk), `"`, "%22"), "#ticks"}} {
		b.open(p.path, p.wait)
		b.audit(p.path)
	}
	_, err = chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	})
	require.NoError(t, err)
	for _, p := range []struct{ path, wait string }{{"/?silenced=1&inhibited=1", "li.alert"}, {"/alerts/" + disk.Fingerprint().String(), "ol.timeline"}, {"/silences", "h1"}, {"/notifications", "h1"}, {"/rules", "article.rule"}, {"/status", "pre.config"}} {
		b.open(p.path, p.wait)
		b.audit(p.path + " (dark)")
	}
	b.shoot("oncall-alert-dark")
	b.noXSS("the end")
}
