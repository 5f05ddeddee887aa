package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alerter/alerter/internal/testutil"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/semver"
)

// TestHelp: every way of asking for help prints that command's usage to
// stdout and exits 0, with the command's own flags and no others.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    []string // in stdout
		notWant []string
	}{
		{[]string{"--help"}, []string{"Usage:", "alerter check config FILE", "alerter help [COMMAND]"}, nil},
		{[]string{"-h"}, []string{"alerter routes show"}, nil},
		{[]string{"help"}, []string{"alerter backtest"}, nil},
		{[]string{"run", "--help"}, []string{"Usage: alerter [run] [flags]", "--config.file=STRING", "--storage.path", "(default alerter.yml)",
			"--dispatch.start-delay", "--web.cors.origin", "--enable-feature", "more of Alertmanager's flags (--cluster.*, --web.timeout, ...) are accepted and ignored"},
			[]string{"--cluster.peer"}},
		{[]string{"help", "run"}, []string{"Usage: alerter [run] [flags]"}, nil},
		{[]string{"check", "--help"}, []string{"Usage: alerter check COMMAND", "config ", "rules "}, nil},
		{[]string{"help", "check"}, []string{"Usage: alerter check COMMAND"}, nil},
		{[]string{"check", "config", "--help"}, []string{"Usage: alerter check config FILE", "WARNING lines"}, nil},
		{[]string{"help", "check", "config"}, []string{"Usage: alerter check config FILE"}, nil},
		{[]string{"check", "rules", "-h"}, []string{"Usage: alerter check rules FILE..."}, nil},
		{[]string{"test", "rules", "--help"}, []string{"Usage: alerter test rules", "--run=REGEX", "--junit=STRING"}, nil},
		{[]string{"test", "--help"}, []string{"Usage: alerter test COMMAND", "rules "}, nil},
		{[]string{"routes", "show", "--help"}, []string{"Usage: alerter routes show", "--config.file"}, []string{"--tree", "--verify.receivers"}},
		{[]string{"routes", "test", "--help"}, []string{"Usage: alerter routes test", "--tree", "--verify.receivers"}, nil},
		{[]string{"routes", "--help"}, []string{"Usage: alerter routes COMMAND", "show ", "test "}, nil},
		{[]string{"receivers", "test", "--help"}, []string{"Usage: alerter receivers test --config.file=FILE NAME", "--web.external-url"}, nil},
		{[]string{"backtest", "--help"}, []string{"Usage: alerter backtest", "--from=STRING", "--step=STRING"}, nil},
		{[]string{"help", "backtest"}, []string{"Usage: alerter backtest"}, nil},
		{[]string{"why", "--help"}, []string{"Usage: alerter why --alertmanager.url=URL", "--fingerprint", "--since"}, nil},
		{[]string{"--help"}, []string{"alerter why --alertmanager.url=URL label=value..."}, nil},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		require.Equal(t, exitOK, code, "%v: %s", tc.args, stderr)
		require.Empty(t, stderr, tc.args)
		for _, w := range tc.want {
			require.Contains(t, stdout, w, tc.args)
		}
		for _, w := range tc.notWant {
			require.NotContains(t, stdout, w, tc.args)
		}
	}
	// A usage error prints the problem and the usage to stderr.
	code, stdout, stderr := runCLI(t, "check", "config")
	require.Equal(t, exitUsage, code)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "alerter check config: want exactly one FILE")
	require.Contains(t, stderr, "Usage: alerter check config FILE")
	code, _, stderr = runCLI(t, "check", "frob")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `alerter check: unknown command "frob"`)
	for args, want := range map[string]string{
		"why a=b": "--alertmanager.url is required",
		"why --alertmanager.url=http://127.0.0.1:9":      "give the alert's labels",
		"why --alertmanager.url=ftp://x a=b":             "is not an http(s) URL",
		"why --alertmanager.url=http://x --output=xml a": "--output must be table or json",
	} {
		code, _, stderr = runCLI(t, strings.Fields(args)...)
		require.Equal(t, exitUsage, code, args)
		require.Contains(t, stderr, want, args)
	}
}

// TestVersionForms: alerter --version prints Prometheus' version block, and
// the version is a semantic version (amtool compares its major and minor).
func TestVersionForms(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, stdout, _ := runCLI(t, args...)
		require.Equal(t, exitOK, code)
		require.True(t, strings.HasPrefix(stdout, "alerter, version "+version()+" (branch: "), stdout)
		require.Contains(t, stdout, "go version:")
	}
	require.True(t, semver.IsValid("v"+version()), version())
	require.NotContains(t, version(), "devel")
}

// TestRunSelectingNoTestFails: --run that selects no test is a failure that
// says so, not a SUCCESS after running nothing.
func TestRunSelectingNoTestFails(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yml"), []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n"), 0o600))
	test := filepath.Join(dir, "test.yml")
	require.NoError(t, os.WriteFile(test, []byte(`rule_files: [rules.yml]
tests:
  - name: up
    interval: 1m
    input_series: [{series: 'up{job="a"}', values: '1x5'}]
    alert_rule_test: [{eval_time: 5m, alertname: A, exp_alerts: []}]
`), 0o600))
	code, _, _ := runCLI(t, "test", "rules", "--run", "up", test)
	require.Equal(t, exitOK, code)
	code, _, stderr := runCLI(t, "test", "rules", "--run", "nothing-like-this", test)
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, "--run nothing-like-this selected no test in 1 file(s): nothing was tested")
}

// TestBacktestThatEvaluatedNothingFails: on the quickstart's embedded
// datasource every evaluation fails; the backtest says so and exits 1
// instead of reporting that nothing ever fired.
func TestBacktestThatEvaluatedNothingFails(t *testing.T) {
	cfg := filepath.Join(testutil.RepoRoot(t), "examples", "quickstart", "alerter.yml")
	code, _, stderr := runCLI(t, "backtest", "--config.file="+cfg, "--from=-1h")
	require.Equal(t, exitProblems, code, stderr)
	require.Contains(t, stderr, `every evaluation failed, so the report says nothing: rule "HighErrorRatio": datasource "local" is embedded`)
}

// TestCheckConfigReportsEverythingAtOnce: a problem in the config, a broken
// rule file and recording rules that will not be evaluated are all
// reported in one run, not one after the other.
func TestCheckConfigReportsEverythingAtOnce(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	write("alerter.yml", `
global: {resolve_timeout: 1x}
datasources: [{name: prom, type: prometheus, url: 'http://127.0.0.1:9090'}]
rule_files: [good.yml, bad.yml, 'more/*.yml']
`)
	write("good.yml", "groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n      - alert: Down\n        expr: up == 0\n")
	write("bad.yml", "groups:\n  - name: b\n    rules:\n      - alert: Broken\n        expr: rate(up)\n")
	code, stdout, stderr := runCLI(t, "check", "config", filepath.Join(dir, "alerter.yml"))
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, `resolve_timeout: unknown unit "x"`)
	require.Contains(t, stderr, `bad.yml:5:15: group "b", rule 1 ("Broken"): could not parse expression`)
	require.Contains(t, stderr, `WARNING: rule_files: "more/*.yml" matches no file`)
	require.Contains(t, stderr, `WARNING: group "g": 1 recording rule(s) are not evaluated (job:up:sum): datasource "prom" (type prometheus) has nowhere to write what they record; give it a remote_write url`)
	require.Contains(t, stdout, "Checking "+filepath.Join(dir, "good.yml"))

	// With a remote_write endpoint the recording rules are evaluated: no
	// warning.
	write("alerter.yml", `
datasources:
  - {name: prom, type: prometheus, url: 'http://127.0.0.1:9090', remote_write: {url: 'http://127.0.0.1:9090/api/v1/write'}}
rule_files: [good.yml]
`)
	code, _, stderr = runCLI(t, "check", "config", filepath.Join(dir, "alerter.yml"))
	require.Equal(t, 0, code, stderr)
	require.NotContains(t, stderr, "not evaluated")

	// A broken remote_write section says what and where.
	write("alerter.yml", `
datasources:
  - {name: prom, type: prometheus, url: 'http://127.0.0.1:9090', remote_write: {url: 'ftp://x', queue_config: {capacity: -1}, headers: {authorization: x}}}
`)
	code, _, stderr = runCLI(t, "check", "config", filepath.Join(dir, "alerter.yml"))
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, `remote_write: url "ftp://x" must be an absolute http or https URL`)
	require.Contains(t, stderr, `remote_write: capacity must not be negative`)
	require.Contains(t, stderr, `remote_write: headers: authorization is set by alerter`)
}

// TestSignalDuringStartUpExitsZero: a SIGTERM while alerter starts (here:
// before it starts at all) stops it cleanly, exit 0, instead of exit 1 with
// "read saved alert states: context canceled".
func TestSignalDuringStartUpExitsZero(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alerter.yml"), []byte("route: {receiver: a}\nreceivers: [{name: a}]\nrule_files: [r.yml]\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "r.yml"), []byte("groups: [{name: g, rules: [{alert: A, expr: up == 0}]}]\n"), 0o600))
	var stdout, stderr strings.Builder
	code := run(ctx, []string{"--config.file=" + filepath.Join(dir, "alerter.yml"), "--storage.path=" + t.TempDir(),
		"--web.listen-address=127.0.0.1:0"}, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	require.Contains(t, stderr.String(), "Stopped during start-up")
}

// alerter why never prints the password of the URL it was given, and says
// what answered when it is not alerter's API.
func TestWhyHidesPassword(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ann" || p != "s3cret" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		http.Error(w, "not here", http.StatusNotFound)
	}))
	defer srv.Close()
	withAuth := strings.Replace(srv.URL, "http://", "http://ann:s3cret@", 1)
	code, stdout, stderr := runCLI(t, "why", "--alertmanager.url="+withAuth, "alertname=X")
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, "404: is this an alerter", "the credentials reached the server")
	require.NotContains(t, stdout+stderr, "s3cret")
	code, _, stderr = runCLI(t, "why", "--alertmanager.url=http://ann:s3cret@127.0.0.1:1", "alertname=X")
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, "connection refused")
	require.NotContains(t, stderr, "s3cret")
}
