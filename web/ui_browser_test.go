package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/internal/testutil"
	"github.com/alerter/alerter/silences"
)

// browser drives a headless Chromium against the UI.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string // screenshots

	mu       sync.Mutex
	problems []string // exceptions and CSP violations seen in the console
}

// screenshotDir is where the screenshots of the pages go: a test artifact,
// kept out of the repository.
func screenshotDir(t *testing.T) string {
	dir := filepath.Join(os.TempDir(), "alerter-screenshots")
	if a := os.Getenv("ALERTER_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "screenshots")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func newBrowser(t *testing.T, base string) *browser {
	chromium := testutil.Program(t, "chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(ctx)
	t.Cleanup(cancelTab)
	b := &browser{t: t, ctx: ctx, base: base, dir: screenshotDir(t)}
	// Start the browser, then watch its console for the rest of the test.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[int](`1`))
	require.NoError(t, err, "starting %s", chromium)
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Refused to") {
				b.mu.Lock()
				b.problems = append(b.problems, string(m.Type)+": "+m.Text)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, steps...))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(b.t, err, sel)
	return strings.TrimSpace(s)
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	require.NoError(b.t, err, js)
	return s
}

// open loads a page and checks that nothing on it ran injected script.
func (b *browser) open(path, waitFor string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(waitFor)))
	b.noXSS(path)
}

func (b *browser) noXSS(where string) {
	b.t.Helper()
	require.Equal(b.t, "undefined", b.eval(`typeof window.xss`), "injected markup ran on %s", where)
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(b.t, b.problems, "console problems on %s", where)
}

// shoot takes full-page screenshots of the current page at laptop and
// phone widths.
func (b *browser) shoot(name string) {
	b.t.Helper()
	for _, vp := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"laptop", 1366, 800, false}, {"phone", 390, 844, true}} {
		var opts []chromedp.EmulateViewportOption
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		b.do(chromedp.EmulateViewport(vp.w, vp.h, opts...))
		// Nothing is cut off: the page does not scroll sideways.
		wide := b.eval(`(function(){
			var clipped = function(e){ for (var p = e.parentElement; p && p !== document.body; p = p.parentElement) { if (getComputedStyle(p).overflowX !== "visible") return true; } return false; };
			var over = [];
			document.querySelectorAll("main *").forEach(function(e){
				var r = e.getBoundingClientRect();
				if (r.width > 0 && r.right > document.documentElement.clientWidth + 1 && !clipped(e)) over.push(e.tagName + "." + e.className + " " + e.textContent.slice(0, 40));
			});
			return over.slice(0, 5).join(" | ");
		})()`)
		require.Empty(b.t, wide, "%s at %d px: elements past the right edge", name, vp.w)
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		require.NoError(b.t, err)
		require.NoError(b.t, os.WriteFile(filepath.Join(b.dir, name+"-"+vp.suffix+".png"), png, 0o644))
	}
	b.do(chromedp.EmulateViewport(1366, 800))
}

// TestBrowserUI silences an alert from its Silence link, sees it marked
// silenced, expires the silence, and checks that markup in annotations,
// labels and comments renders as text and runs nothing, in a real browser.
func TestBrowserUI(t *testing.T) {
	e := newUIEnv(t, Options{TestReceiver: func(context.Context, string) ([]ReceiverTestResult, error) {
		return []ReceiverTestResult{{Integration: "webhook/0", Success: true, Duration: 120 * time.Millisecond}}, nil
	}})
	now := time.Now()
	require.NoError(t, e.routing.store.Put([]*dispatch.Alert{{
		Labels: model.LabelSet{"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical", "svc": "db", "team": "db", "evil": `<img src=x onerror="window.xss=1">`},
		Annotations: model.LabelSet{
			"summary":     `Disk almost full <script>window.xss=1</script>`,
			"description": `Only 3% left on /var. <img src=x onerror="window.xss=1">`,
			"runbook_url": "https://runbooks.example/DiskFull",
		},
		StartsAt: now.Add(-42 * time.Minute), GeneratorURL: "http://prometheus.example/graph?g0.expr=disk",
	}, {
		Labels:      model.LabelSet{"alertname": "HighLatency", "instance": "web-1:8080", "severity": "warning", "svc": "db"},
		Annotations: model.LabelSet{"summary": "p99 latency above 2s"}, StartsAt: now.Add(-3 * time.Hour),
	}, {
		Labels:      model.LabelSet{"alertname": "HighLatency", "instance": "web-2:8080", "severity": "warning", "svc": "web"},
		Annotations: model.LabelSet{"summary": "p99 latency above 2s"}, StartsAt: now.Add(-2 * time.Hour),
	}, {
		Labels:      model.LabelSet{"alertname": "CertExpiring", "instance": "lb-1", "severity": "warning", "svc": "edge"},
		Annotations: model.LabelSet{"summary": "TLS certificate expires in 6 days"}, StartsAt: now.Add(-26 * time.Hour),
	}}))
	ms, err := parseMatcherExpr(config.SyntaxFallback, `{alertname="CertExpiring"}`)
	require.NoError(t, err)
	_, err = e.sils.Set(context.Background(), silences.Silence{
		Matchers: ms, EndsAt: now.Add(6 * 24 * time.Hour), CreatedBy: "sam", Comment: "renewal ticket OPS-42 <script>window.xss=1</script>",
	})
	require.NoError(t, err)
	e.hist.entries = []Notification{
		{ID: 3, AlertsTotal: 1, Attempt: dispatch.Attempt{At: now.Add(-time.Minute), Duration: 80 * time.Millisecond, Receiver: "critical", Integration: "webhook/0",
			GroupKey: `{}/{severity="critical"}:{alertname="DiskFull"}`, Status: "firing", Alerts: []model.LabelSet{{"alertname": "DiskFull", "instance": "db-1:9100"}}, Attempt: 1}},
		{ID: 2, AlertsTotal: 2, Attempt: dispatch.Attempt{At: now.Add(-5 * time.Minute), Duration: 10 * time.Second, Receiver: "team", Integration: "webhook/0",
			GroupKey: `{}:{alertname="HighLatency"}`, Status: "firing", Alerts: []model.LabelSet{{"alertname": "HighLatency", "instance": "web-1:8080"}, {"alertname": "HighLatency", "instance": "web-2:8080"}},
			Attempt: 3, Err: "Post \"http://hooks.example/alerts\": context deadline exceeded", Reason: dispatch.ReasonDeadlineExceeded}},
	}

	b := newBrowser(t, e.base)
	t.Logf("screenshots in %s", b.dir)

	// The alerts page: open, look, and follow DiskFull's Silence link.
	b.open("/", "li.alert")
	require.Contains(t, b.text(".alert.state-firing .alert-summary"), "<script>window.xss=1</script>", "markup shows as text")
	b.shoot("alerts")
	b.do(chromedp.Click(chromedp.CSS(`a.silence-link[aria-label^="Silence DiskFull "]`)), chromedp.WaitVisible(chromedp.CSS("#silence-form")))
	b.noXSS("the silence form")
	ticked := b.eval(`Array.from(document.querySelectorAll('input[name="tick"]:checked')).map(e => e.value).join(" ")`)
	require.Contains(t, ticked, `alertname="DiskFull"`)
	require.Contains(t, ticked, `instance="db-1:9100"`, "an alert's own Silence link ticks all its labels")
	require.Contains(t, b.text("#preview"), "1 active alert matches")
	b.do(
		chromedp.SendKeys(chromedp.CSS("#createdBy"), "ann"),
		chromedp.SendKeys(chromedp.CSS("#comment"), `swapping the disk <script>window.xss=1</script><img src=x onerror="window.xss=1">`),
	)
	b.shoot("silence-form")
	b.do(chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	require.Equal(t, "Silence saved.", b.text(".flash"))
	silenceURL, err := chromedp.Run(b.ctx, chromedp.Location())
	require.NoError(t, err)
	require.Contains(t, b.text(".silence-comment"), "<script>window.xss=1</script>")
	b.noXSS("the silence page")
	b.shoot("silence")

	// The alert is silenced: hidden by default, marked with silenced shown.
	b.open("/", ".counts")
	require.Contains(t, b.text(".counts"), "2 silenced (hidden)")
	require.NotContains(t, b.text("main"), "DiskFull")
	b.open("/?silenced=1&inhibited=1&pending=1", "li.alert.state-silenced")
	require.Contains(t, b.eval(`Array.from(document.querySelectorAll("li.alert.state-silenced .alertname")).map(e => e.textContent).join(",")`), "DiskFull")
	require.Contains(t, b.eval(`document.querySelector("li.alert.state-silenced .muted-by").textContent`), "silenced by ann: swapping the disk")
	b.shoot("alerts-all")

	// Expire it from its page.
	silencePath, _, _ := strings.Cut(strings.TrimPrefix(silenceURL, e.base), "?") // no flash yet
	b.open(silencePath, "#expire")
	b.do(chromedp.Click(chromedp.CSS("#expire")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	require.Equal(t, "Silence expired.", b.text(".flash"))
	require.Equal(t, "EXPIRED", strings.ToUpper(b.text(".page-head .badge")))
	b.open("/", "li.alert")
	require.Contains(t, b.text("main"), "DiskFull", "firing again")

	// Live validation and preview in the form (the page's own script).
	b.open("/silences/new", "#silence-form")
	b.do(chromedp.SendKeys(chromedp.CSS("#matchers"), `{alertname="Disk`))
	_, err = chromedp.Run(b.ctx, chromedp.Poll[bool](`!document.getElementById("matchers-error").hidden`, chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "live validation shows the error")
	require.Contains(t, b.text("#matchers-error"), "bad matcher syntax")
	b.do(chromedp.SendKeys(chromedp.CSS("#matchers"), `Full"}`))
	_, err = chromedp.Run(b.ctx, chromedp.Poll[bool](`document.getElementById("matchers-error").hidden && document.getElementById("preview").textContent.includes("DiskFull")`, chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "live preview lists the alert")
	require.Contains(t, b.text("#ends-hint"), "The silence will end at")
	b.noXSS("the live preview")

	// Every other page, at both widths.
	for _, p := range []struct{ name, path, wait string }{
		{"silences", "/silences", "article.silence"},
		{"silences-expired", "/silences?state=expired", "article.silence"},
		{"rules", "/rules", "article.rule"},
		{"routes", "/routes?labels=" + url.QueryEscape("alertname=DiskFull, severity=critical, team=db"), ".route.matched"},
		{"notifications", "/notifications", "table.notifications"},
		{"status", "/status", "pre.config"},
	} {
		b.open(p.path, p.wait)
		b.shoot(p.name)
		if p.name == "notifications" {
			// The failure reason shows without scrolling at 1366 px.
			right := b.eval(`String(document.querySelector("tr.failed td.error-cell").getBoundingClientRect().right <= document.documentElement.clientWidth)`)
			require.Equal(t, "true", right, "the error column is on screen")
		}
	}
	b.do(chromedp.Click(chromedp.CSS("ul.receivers button")), chromedp.WaitVisible(chromedp.CSS("section .flash")))
	require.Contains(t, b.text("section .flash"), "Test notification to critical: sent")

	// Keyboard: the first Tab reaches the skip link, the next the brand
	// and the navigation.
	b.open("/", "li.alert")
	b.do(chromedp.KeyEvent("\t"))
	require.Equal(t, "Skip to content", b.eval(`document.activeElement.textContent`))

	// Dark mode, for those whose system asks for it.
	_, err = chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	})
	require.NoError(t, err)
	b.open("/?silenced=1&inhibited=1&pending=1", "li.alert")
	b.shoot("alerts-dark")
	b.noXSS("the end")
}

// forgeryPage is a page on another site that tries what a cross-site
// request forgery tries: a plain form that posts JSON as text/plain (no
// CORS preflight), and no-cors fetches with the user's cached credentials.
const forgeryPage = `<!doctype html><html><body>
<iframe name="sink"></iframe>
<form id="f" method="POST" enctype="text/plain" target="sink" action="{{base}}/api/v2/silences">
<input name='{"matchers":[{"name":"alertname","value":".+","isRegex":true}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"mallory","comment":"' value='"}'>
</form>
<script>
const base = "{{base}}";
const post = (path, body, type) => fetch(base + path, {method: "POST", mode: "no-cors", credentials: "include",
  headers: type ? {"Content-Type": type} : {}, body}).catch(() => {});
document.getElementById("f").submit();
Promise.all([
  post("/api/v2/alerts", '[{"labels":{"alertname":"Forged"}}]', "text/plain"),
  post("/-/reload"),
  post("/api/v1/receivers/team/test"),
  post("/api/v1/backtest", '{"from":"-1h"}', "text/plain"),
]).then(() => { window.done = true; });
</script></body></html>`

// TestBrowserCrossSiteForgery opens a page of another origin in Chromium
// that posts to alerter's state-changing endpoints: the requests arrive
// and change nothing.
func TestBrowserCrossSiteForgery(t *testing.T) {
	e := newStateEnv(t)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, strings.ReplaceAll(forgeryPage, "{{base}}", e.base))
	}))
	t.Cleanup(evil.Close)

	b := newBrowser(t, evil.URL)
	b.do(chromedp.Navigate(evil.URL))
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`window.done === true`, chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err)
	// The form's post is the fifth request; wait for it to arrive.
	for i := 0; i < 100 && e.unsafeRequests.Load() < 5; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	require.EqualValues(t, 5, e.unsafeRequests.Load(), "every forged request reached alerter")
	alerts, sils, calls := e.changed()
	require.Zero(t, alerts, "alerts injected")
	require.Zero(t, sils, "silences created")
	require.Zero(t, calls, "reloads, test notifications or backtests run")
}
