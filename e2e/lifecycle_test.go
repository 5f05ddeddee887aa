package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// demo is a config on the embedded datasource with one alert that fires
// two seconds after start-up and stays firing.
var demo = map[string]string{
	"alerter.yml": `
global:
  evaluation_interval: 1s
datasources:
  - name: local
    type: embedded
    series_files: [series.yml]
rule_files: [rules.yml]
`,
	"series.yml": `
interval: 1s
input_series:
  - series: 'demo_value{instance="a"}'
    values: '1x100000'
`,
	"rules.yml": `
groups:
  - name: demo
    rules:
      - alert: Demo
        expr: demo_value == 1
        for: 2s
        labels: {severity: page}
        annotations: {summary: 'demo on {{ $labels.instance }}'}
`,
}

func waitState(t *testing.T, a *alerter, name, want string, d time.Duration) apiAlert {
	t.Helper()
	var got apiAlert
	testutil.Eventually(t, d, 100*time.Millisecond, func() bool {
		var st string
		st, got = a.alertState(t, name)
		return st == want
	}, "alert %s did not become %q within %v", name, want, d)
	return got
}

// TestKillNineKeepsFiringAlert: an alert that fires when alerter is killed
// with SIGKILL is firing again as soon as alerter is back, with the same
// activeAt (Prometheus and vmalert bring it back as pending).
func TestKillNineKeepsFiringAlert(t *testing.T) {
	t.Parallel()
	a := startAlerter(t, demo, "")
	before := waitState(t, a, "Demo", "firing", 30*time.Second)
	// The API shows the state as the evaluation makes it; the evaluation
	// writes it at its end. Kill once an evaluation that started after
	// "firing" was seen has ended (evaluations of a group run in turn).
	seen := float64(time.Now().UnixMilli()) / 1000
	testutil.Eventually(t, 10*time.Second, 50*time.Millisecond, func() bool {
		_, body, err := testutil.Get(a.url + "/metrics")
		require.NoError(t, err)
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "alerter_rule_group_last_evaluation_timestamp_seconds{") {
				f := strings.Fields(line)
				v, err := strconv.ParseFloat(f[len(f)-1], 64)
				return err == nil && v >= seen
			}
		}
		return false
	}, "no evaluation ended after the alert was seen firing")
	a.Kill()

	b := startAlerterIn(t, a.dir, a.storage)
	state, after := b.alertState(t, "Demo")
	require.Equal(t, "firing", state, "firing at once after the restart")
	require.True(t, before.ActiveAt.Equal(after.ActiveAt), "activeAt %v, want %v", after.ActiveAt, before.ActiveAt)
	require.Equal(t, "demo on a", after.Annotations["summary"])
	// And it keeps firing once evaluations resume.
	testutil.Eventually(t, 10*time.Second, 100*time.Millisecond, func() bool {
		return b.rules(t)["Demo"].Health == "ok"
	}, "Demo was not evaluated after the restart")
	state, _ = b.alertState(t, "Demo")
	require.Equal(t, "firing", state)
}

// TestBadReloadKeepsRunning: a broken rule file is refused on reload
// (POST /-/reload and SIGHUP), with the problem and where it is; the old
// rules keep running; the metric says so; a fixed file is then taken.
func TestBadReloadKeepsRunning(t *testing.T) {
	t.Parallel()
	a := startAlerter(t, demo, "")
	waitState(t, a, "Demo", "firing", 30*time.Second)
	rules := filepath.Join(a.dir, "rules.yml")
	good, err := os.ReadFile(rules)
	require.NoError(t, err)
	broken := strings.Replace(string(good), "demo_value == 1", "demo_value ==", 1)
	require.NoError(t, os.WriteFile(rules, []byte(broken), 0o600))

	code, body := post(t, a.url+"/-/reload")
	require.Equal(t, http.StatusInternalServerError, code)
	require.Contains(t, body, rules+`:6:15: group "demo", rule 1 ("Demo"): could not parse expression`)
	require.Equal(t, "0", a.metric(t, "alerter_config_last_reload_successful"))
	state, _ := a.alertState(t, "Demo")
	require.Equal(t, "firing", state, "the old rules keep running")

	a.Signal(t, syscall.SIGHUP)
	testutil.Eventually(t, 10*time.Second, 50*time.Millisecond, func() bool {
		return a.metric(t, `alerter_config_reloads_total{result="failure"}`) == "2"
	}, "SIGHUP did not trigger a reload")
	require.Equal(t, 2, strings.Count(a.Output(), "Reloading the configuration failed"))

	require.NoError(t, os.WriteFile(rules, good, 0o600))
	code, body = post(t, a.url+"/-/reload")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "1", a.metric(t, "alerter_config_last_reload_successful"))
	state, _ = a.alertState(t, "Demo")
	require.Equal(t, "firing", state, "an unchanged rule keeps its state across a reload")
}

// TestBrokenRulesAtStart: alerter refuses to start, naming every problem.
func TestBrokenRulesAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"alerter.yml": demo["alerter.yml"],
		"series.yml":  demo["series.yml"],
		"rules.yml": `
groups:
  - name: demo
    interval: 1x
    rules:
      - alert: A
        expr: rate(x)
      - alert: B
        expr: up
        annotations: {summary: '{{ $labels.instance '}
`,
	}
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	p := testutil.Start(t, testutil.AlerterBinary(t), "--config.file="+filepath.Join(dir, "alerter.yml"),
		"--storage.path="+t.TempDir(), "--web.listen-address="+testutil.FreeAddr(t))
	require.Equal(t, 1, p.Wait(t, 30*time.Second))
	out := p.Output()
	rules := filepath.Join(dir, "rules.yml")
	for _, want := range []string{
		rules + `:4:15: group "demo": interval: unknown unit "x" in duration "1x"`,
		rules + `:7:15: group "demo", rule 1 ("A"): could not parse expression: 1:6: parse error: expected type range vector in call to function "rate", got instant vector`,
		rules + `:10:32: group "demo", rule 2 ("B"): annotation "summary": template: __alert_B:1: unclosed action`,
	} {
		require.Contains(t, out, want)
	}
}

// TestQuickstart runs the README's first command and sees the quickstart's
// error-ratio alert go pending and then firing within a minute or so.
func TestQuickstart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testutil.RepoRoot(t), "examples", "quickstart")
	a := startAlerterIn(t, dir, "")
	start := time.Now()
	require.Contains(t, a.Output(), "alerter is ready: the web UI is at "+a.url+"/ and the alerts at "+a.url+"/api/v1/alerts")
	// A healthy first start raises nothing but the quickstart's alert:
	// watched until HighErrorRatio fires, some 40 s.
	others := map[string]string{}
	testutil.Eventually(t, 120*time.Second, 200*time.Millisecond, func() bool {
		firing := false
		for _, al := range a.alerts(t) {
			if name := al.Labels["alertname"]; name != "HighErrorRatio" {
				others[name] = al.State
			} else {
				firing = al.State == "firing"
			}
		}
		return firing
	}, "HighErrorRatio did not fire")
	require.Empty(t, others, "alerts raised on a healthy first start")
	firing := waitState(t, a, "HighErrorRatio", "firing", time.Second)
	t.Logf("HighErrorRatio firing %v after start: %s", time.Since(start).Round(time.Second), firing.Annotations["summary"])
	require.Equal(t, "page", firing.Labels["severity"])
	require.Contains(t, firing.Annotations["summary"], "of requests with an error")
	rules := a.rules(t)
	for _, name := range []string{"HighErrorRatio", "HighLatency", "InstanceDown", "AlerterRuleEvaluationFailures"} {
		require.Equal(t, "ok", rules[name].Health, name)
	}
}

// TestReloadRefusesConfigsThatLoseEverything: configurations that would
// silently stop routing or rules (an empty file, a file cut off before
// route:, a missing named rule file, an emptied rule file) are refused on
// reload with a message that says why; notifications and rules go on; a
// complete file is then taken. check config refuses an empty file and
// warns about a glob that matches nothing.
func TestReloadRefusesConfigsThatLoseEverything(t *testing.T) {
	t.Parallel()
	h := newHook(t)
	files := routed(h.URL)
	a := startAlerter(t, files, "")
	waitState(t, a, "Demo", "firing", 30*time.Second)
	cfgPath, rulesPath := filepath.Join(a.dir, "alerter.yml"), filepath.Join(a.dir, "rules.yml")
	full := files["alerter.yml"]
	cut, _, _ := strings.Cut(full, "route:")
	write := func(path, content string) { require.NoError(t, os.WriteFile(path, []byte(content), 0o600)) }

	for _, tc := range []struct {
		name, config, rules, want string
	}{
		{"empty config", "", files["rules.yml"], "the file is empty"},
		{"comments only", "# nothing yet\n", files["rules.yml"], "the file is empty"},
		{"cut before route", cut, files["rules.yml"], "has no route: it would stop every notification"},
		{"missing rule file", strings.Replace(full, "[rules.yml]", "[rules.yml, gone.yml]", 1), files["rules.yml"],
			filepath.Join(a.dir, "gone.yml") + " does not exist"},
		{"renamed rule file", strings.Replace(full, "[rules.yml]", "[rulez.yml]", 1), files["rules.yml"], "rulez.yml does not exist"},
		{"empty rule file", full, "", "names no rules (the running configuration has 1)"},
		{"glob matching nothing", strings.Replace(full, "[rules.yml]", "[rules.d/*.yml]", 1), files["rules.yml"], "names no rules"},
	} {
		write(cfgPath, tc.config)
		write(rulesPath, tc.rules)
		code, body := post(t, a.url+"/-/reload")
		require.Equal(t, http.StatusInternalServerError, code, "%s: %s", tc.name, body)
		require.Contains(t, body, tc.want, tc.name)
		require.Equal(t, "0", a.metric(t, "alerter_config_last_reload_successful"), tc.name)
	}
	require.Contains(t, a.Output(), `rules.d/*.yml\" matches no file`)
	state, _ := a.alertState(t, "Demo")
	require.Equal(t, "firing", state, "the rules keep running")

	// The routing still runs: a new alert posted now is notified.
	code, body := postJSON(t, a.url+"/api/v2/alerts", `[{"labels":{"alertname":"Posted"}}]`)
	require.Equal(t, http.StatusOK, code, body)
	testutil.Eventually(t, 20*time.Second, 100*time.Millisecond, func() bool {
		for _, m := range h.messages() {
			if m.GroupLabels["alertname"] == "Posted" {
				return true
			}
		}
		return false
	}, "the routing stopped")

	write(cfgPath, full)
	write(rulesPath, files["rules.yml"])
	code, body = post(t, a.url+"/-/reload")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "1", a.metric(t, "alerter_config_last_reload_successful"))

	// check config: an empty file is a problem, a glob matching nothing a
	// warning.
	check := func(content string) (int, string) {
		p := filepath.Join(t.TempDir(), "alerter.yml")
		write(p, content)
		c := testutil.Start(t, testutil.AlerterBinary(t), "check", "config", p)
		return c.Wait(t, 30*time.Second), c.Output()
	}
	code, out := check("")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "the file is empty")
	code, out = check("rule_files: [nothing/*.yml]\n")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `WARNING: rule_files: "nothing/*.yml" matches no file`)
	code, out = check("rule_files: [nothing.yml]\n")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "nothing.yml does not exist")
}

// TestReloadEmbeddedDatasource: a reload that changes an embedded
// datasource's series files reopens it with them (a rule on a new series
// fires), and one that drops the datasource closes it; re-adding it opens
// it again.
func TestReloadEmbeddedDatasource(t *testing.T) {
	t.Parallel()
	cfg := func(series string) string {
		return `
global: {evaluation_interval: 1s}
datasources:
  - {name: other, type: embedded}
  - {name: local, type: embedded, series_files: [` + series + `]}
rule_files: [rules.yml]
`
	}
	a := startAlerter(t, map[string]string{
		"alerter.yml": cfg("a.yml"),
		"a.yml":       "interval: 1s\ninput_series:\n  - {series: 'old_metric', values: '1x100000'}\n",
		"b.yml":       "interval: 1s\ninput_series:\n  - {series: 'new_metric', values: '1x100000'}\n",
		"rules.yml":   "groups:\n  - name: g\n    datasource: local\n    rules:\n      - alert: NewSeries\n        expr: new_metric == 1\n",
	}, "")
	time.Sleep(3 * time.Second)
	state, _ := a.alertState(t, "NewSeries")
	require.Empty(t, state, "no new series yet")

	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(a.dir, name), []byte(content), 0o600))
	}
	write("alerter.yml", cfg("a.yml, b.yml"))
	code, body := post(t, a.url+"/-/reload")
	require.Equal(t, http.StatusOK, code, body)
	waitState(t, a, "NewSeries", "firing", 20*time.Second)
	require.Contains(t, a.Output(), "Embedded datasource reopened with its new settings") // logged before the reload answered

	write("alerter.yml", strings.Replace(cfg("a.yml"), "  - {name: local", "  # - {name: local", 1))
	write("rules.yml", "groups:\n  - name: g\n    datasource: other\n    rules:\n      - alert: NewSeries\n        expr: new_metric == 1\n")
	code, body = post(t, a.url+"/-/reload")
	require.Equal(t, http.StatusOK, code, body)
	testutil.Eventually(t, 5*time.Second, 50*time.Millisecond, func() bool {
		return strings.Contains(a.Output(), `Embedded datasource closed: the configuration no longer has it" datasource=local`)
	}, "the dropped datasource was not closed")

	write("alerter.yml", cfg("a.yml, b.yml"))
	write("rules.yml", "groups:\n  - name: g\n    datasource: local\n    rules:\n      - alert: NewSeries\n        expr: new_metric == 1\n")
	code, body = post(t, a.url+"/-/reload")
	require.Equal(t, http.StatusOK, code, body, "the store was released and opens again")
	waitState(t, a, "NewSeries", "firing", 20*time.Second)
}
