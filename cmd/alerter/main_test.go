package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// runCLI runs alerter in-process with args and returns the exit code and
// what it printed.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCheckRulesCorpus(t *testing.T) {
	dir := testutil.CorpusDir(t)
	var good []string
	for _, row := range testutil.CorpusList(t, "rule-files.txt") {
		good = append(good, filepath.Join(dir, row[0]))
	}
	code, stdout, stderr := runCLI(t, append([]string{"check", "rules"}, good...)...)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, len(good), strings.Count(stdout, "  SUCCESS: "))

	// Each broken file is refused for promtool 3.13's reasons: the same
	// problems, naming the same rules, on the same lines where promtool
	// gives one (alerter gives a position to every problem).
	refs := testutil.CorpusReferences(t,
		"prometheus-promtool-testdata/head/EXPECTED-promtool-3.13.md",
		"prometheus-promtool-testdata/v2.42.0/EXPECTED-promtool-3.13.md")
	same := 0
	bad := testutil.CorpusList(t, "rule-files-bad.txt")
	for _, row := range bad {
		code, stdout, stderr := runCLI(t, "check", "rules", filepath.Join(dir, row[0]))
		require.Equal(t, exitProblems, code, "%s was accepted:\n%s", row[0], stdout)
		require.Contains(t, stderr, "  FAILED:")
		ref, ok := refs[row[0]]
		require.True(t, ok, "%s: no promtool 3.13 output", row[0])
		require.Equal(t, 1, ref.Exit, "%s: promtool accepted it", row[0])
		want := testutil.PromtoolProblems(ref.Output)
		require.NotEmpty(t, want, "%s: no problem read from promtool's output", row[0])
		var got []testutil.RuleProblem
		for _, line := range strings.Split(stderr, "\n") {
			if p, ok := testutil.AlerterProblem(line); ok {
				got = append(got, p)
			}
		}
		reason, known := knownRuleProblemDifferences[row[0]]
		agrees, sameButLine := len(want) == len(got), len(want) == len(got)
		for i := 0; sameButLine && i < len(want); i++ {
			agrees = agrees && testutil.SameProblem(want[i], got[i])
			w, g := want[i], got[i]
			w.Line, g.Line = 0, 0
			sameButLine = w == g
		}
		switch {
		case agrees && known:
			t.Errorf("%s: refused for promtool's reasons but listed as a known difference (%s)", row[0], reason)
		case agrees:
			same++
		case known && sameButLine:
			t.Logf("%s: known difference: %s", row[0], reason)
		default:
			t.Errorf("%s: refused otherwise than by promtool 3.13:\npromtool: %v\nalerter:  %v", row[0], want, got)
		}
	}
	t.Logf("broken rule files refused for promtool's reasons: %d/%d (%d known differences)", same, len(bad), len(knownRuleProblemDifferences))
}

// knownRuleProblemDifferences lists the broken corpus rule files that
// alerter refuses for promtool's reasons but on another line, with why;
// the rest of each problem must still agree.
var knownRuleProblemDifferences = map[string]string{
	"prometheus-promtool-testdata/head/rulefmt-testdata/record_and_for.bad.yaml":                "alerter points at the for field (line 6), promtool at the rule's record name (line 4)",
	"prometheus-promtool-testdata/v2.42.0/rulefmt-testdata/record_and_for.bad.yaml":             "alerter points at the for field (line 6), promtool at the rule's record name (line 4)",
	"prometheus-promtool-testdata/head/rulefmt-testdata/record_and_keep_firing_for.bad.yaml":    "alerter points at the keep_firing_for field (line 6), promtool at the rule's record name (line 4)",
	"prometheus-promtool-testdata/v2.42.0/rulefmt-testdata/record_and_keep_firing_for.bad.yaml": "alerter points at the keep_firing_for field (line 6), promtool at the rule's record name (line 4)",
}

func TestCheckRulesOutput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	require.NoError(t, os.WriteFile(good, []byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n  - record: r\n    expr: sum(up)\n"), 0o600))
	require.NoError(t, os.WriteFile(bad, []byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up ==\n"), 0o600))

	code, stdout, stderr := runCLI(t, "check", "rules", good, bad, filepath.Join(dir, "missing.yml"))
	require.Equal(t, exitProblems, code)
	require.Equal(t, "Checking "+good+"\n  SUCCESS: 2 rules found (1 alerting, 1 recording)\n\nChecking "+bad+"\n\nChecking "+filepath.Join(dir, "missing.yml")+"\n", stdout)
	require.Contains(t, stderr, bad+`:5:11: group "g", rule 1 ("A"): could not parse expression: 1:6: parse error: unexpected end of input`)
	require.Contains(t, stderr, "missing.yml: open "+filepath.Join(dir, "missing.yml")+": no such file or directory")
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"check"}, {"check", "rules"}, {"check", "config"}, {"check", "config", "a", "b"}, {"check", "nothing"},
		{"frobnicate"}, {"run", "--no-such-flag"}, {"--log.level=loud"}, {"--log.format=xml"}, {"run", "extra"},
	} {
		code, _, _ := runCLI(t, args...)
		require.Equal(t, exitUsage, code, "%v", args)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runCLI(t, "version")
	require.Equal(t, exitOK, code)
	require.True(t, strings.HasPrefix(stdout, "alerter, version "), stdout)
}

func TestCheckConfigQuickstart(t *testing.T) {
	cfg := filepath.Join(testutil.RepoRoot(t), "examples", "quickstart", "alerter.yml")
	code, stdout, stderr := runCLI(t, "check", "config", cfg)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "  SUCCESS: 2 rule files found")
	require.Contains(t, stdout, "rules.d/alerter.yml\n  SUCCESS: 4 rules found (4 alerting, 0 recording)")
}

func TestCheckConfigProblems(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	write("alerter.yml", "datasources:\n- name: p\n  type: prometheus\n  url: http://localhost:9090\n- name: e\n  type: embedded\n  series_files: [s.yml]\nrule_files: ['*.rules.yml']\n")
	write("s.yml", "interval: 10s\ninput_series:\n- series: 'x{'\n  values: '1'\n")
	write("a.rules.yml", "groups:\n- name: g\n  datasource: nope\n  rules: []\n")
	write("b.rules.yml", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n")
	code, stdout, stderr := runCLI(t, "check", "config", filepath.Join(dir, "alerter.yml"))
	require.Equal(t, exitProblems, code)
	require.Contains(t, stdout, "  SUCCESS: 2 rule files found")
	require.Contains(t, stdout, "b.rules.yml\n  SUCCESS: 1 rules found")
	require.Contains(t, stderr, filepath.Join(dir, "a.rules.yml")+`:2:3: group "g": unknown datasource "nope"`)
	require.Contains(t, stdout, "Checking "+filepath.Join(dir, "s.yml")+"\n")
	require.Contains(t, stderr, `datasource "e": `+filepath.Join(dir, "s.yml"))

	write("alerter.yml", "global:\n  evaluation_interval: soon\n")
	code, _, stderr = runCLI(t, "check", "config", filepath.Join(dir, "alerter.yml"))
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, filepath.Join(dir, "alerter.yml")+`:2: `)
}

// TestSelfMonitoringRulesWithPromtool checks rules.d with Debian's promtool
// too: the file and its unit tests must pass there as well.
func TestSelfMonitoringRulesWithPromtool(t *testing.T) {
	promtool := testutil.Program(t, "promtool", "prometheus")
	dir := filepath.Join(testutil.RepoRoot(t), "rules.d")
	for _, args := range [][]string{{"check", "rules", "alerter.yml"}, {"test", "rules", "tests/alerter.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %v:\n%s", args, out)
	}
	code, _, stderr := runCLI(t, "check", "rules", filepath.Join(dir, "alerter.yml"))
	require.Equal(t, exitOK, code, stderr)
}

func TestExternalURL(t *testing.T) {
	u, err := externalURL("", "", "127.0.0.1:9095")
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9095", u.String())
	u, err = externalURL("https://a.example/alerter/", "http://ignored", ":9095")
	require.NoError(t, err)
	require.Equal(t, "https://a.example/alerter", u.String())
	u, err = externalURL("", "http://b.example", ":9095")
	require.NoError(t, err)
	require.Equal(t, "http://b.example", u.String())
	_, err = externalURL("not a url", "", ":9095")
	require.Error(t, err)
}

// A broken notification template fails `check config`, naming the file and
// line, as start-up does.
func TestCheckConfigBrokenTemplate(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "templates"), 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "bad.tmpl"), []byte("{{ define \"x\" }}{{ .Foo \n"), 0o600))
	cfg := filepath.Join(dir, "alerter.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("route: {receiver: a}\nreceivers: [{name: a}]\ntemplates: [templates/*.tmpl]\n"), 0o600))
	code, _, stderr := runCLI(t, "check", "config", cfg)
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, "bad.tmpl:2: unclosed action")
}
