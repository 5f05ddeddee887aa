package ruletest

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func run(t *testing.T, path string, opts Options) *FileResult {
	t.Helper()
	return RunFile(context.Background(), filepath.Join("testdata", path), opts)
}

func TestPassingFile(t *testing.T) {
	r := run(t, "pass.test.yml", Options{})
	require.NoError(t, r.Err)
	require.Empty(t, r.Warnings)
	require.Len(t, r.Tests, 3)
	for _, tr := range r.Tests {
		require.Empty(t, tr.Failures, tr.Name)
	}
	require.False(t, r.Failed())
}

func TestFailingFileReadableDiff(t *testing.T) {
	r := run(t, "fail.test.yml", Options{})
	require.True(t, r.Failed())
	require.Equal(t, []string{"no file match pattern testdata/missing-*.yml"}, r.Warnings)
	require.Len(t, r.Tests, 3)
	require.Equal(t, []string{"wrong alerts", "wrong samples", "unnamed#2"}, []string{r.Tests[0].Name, r.Tests[1].Name, r.Tests[2].Name})

	// The api alert fired with another severity; db was expected and web
	// fired instead: each pair lists what differs.
	require.Equal(t, []string{`    alertname: HighErrors, time: 5m,
        exp 2 firing alerts, got 2 (- expected, + got):
        ~ {alertname="HighErrors", job="api"}
            labels:
              - severity="critical"
              + severity="page"
        ~ {alertname="HighErrors", severity="page"}
            labels:
              - job="db"
              + job="web"
            annotations:
              + link="/errors"
              + summary="web fails 5/s in eu"`}, r.Tests[0].Failures)

	require.Equal(t, []string{`    expr: "up", time: 0s,
        exp 2 samples, got 1 (- expected, + got):
        - {__name__="up", job="a"} 0
        + {__name__="up", job="a"} 1
        - {__name__="up", job="b"} 1`}, r.Tests[1].Failures)
	require.Len(t, r.Tests[2].Failures, 1)
	require.Contains(t, r.Tests[2].Failures[0], `    expr: "x + on(a) x", time: 0s, err: found duplicate series`)
}

func TestRunSelectsTests(t *testing.T) {
	r := run(t, "fail.test.yml", Options{Run: regexp.MustCompile("samples")})
	require.Len(t, r.Tests, 1)
	require.Equal(t, "wrong samples", r.Tests[0].Name)

	// Unnamed tests have the empty name; a file with no selected test
	// passes without loading its rule files, as in promtool.
	r = run(t, "fail.test.yml", Options{Run: regexp.MustCompile("^$")})
	require.Len(t, r.Tests, 1)
	require.Equal(t, "unnamed#2", r.Tests[0].Name)
	r = run(t, "fail.test.yml", Options{Run: regexp.MustCompile("nothing")})
	require.Empty(t, r.Tests)
	require.False(t, r.Failed())
}

func TestFileProblems(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	for _, c := range []struct{ name, text, err string }{
		{"unknown.yml", "tests: []\nbogus: 1\n", "field bogus not found"},
		{"order.yml", "group_eval_order: [a, b, a]\n", "group name repeated in evaluation order: a"},
		{"start.yml", "tests: [{start_timestamp: yesterday}]\n", `cannot parse "yesterday" to a valid timestamp`},
	} {
		r := RunFile(context.Background(), write(c.name, c.text), Options{})
		require.ErrorContains(t, r.Err, c.err, c.name)
		require.True(t, r.Failed())
	}
	r := RunFile(context.Background(), filepath.Join(dir, "absent.yml"), Options{})
	require.Error(t, r.Err)

	// An empty file has no tests: it passes, as in promtool.
	r = RunFile(context.Background(), write("empty.yml", ""), Options{})
	require.False(t, r.Failed())

	// Test-level problems fail the test, not the file.
	r = RunFile(context.Background(), write("noname.yml", "tests:\n  - alert_rule_test: [{eval_time: 1m}]\n"), Options{})
	require.NoError(t, r.Err)
	require.Equal(t, []string{"an item under alert_rule_test misses required attribute alertname at eval_time 1m"}, r.Tests[0].Failures)
	write("bad-rules.yml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(\n")
	r = RunFile(context.Background(), write("badrules.yml", "rule_files: [bad-rules.yml]\ntests: [{name: t}]\n"), Options{})
	require.Len(t, r.Tests[0].Failures, 1)
	require.Contains(t, r.Tests[0].Failures[0], "could not parse expression")
	r = RunFile(context.Background(), write("unix.yml", "tests:\n  - start_timestamp: 1609459200\n    promql_expr_test: [{expr: time(), eval_time: 1m, exp_samples: [{value: 1609459260}]}]\n"), Options{})
	require.False(t, r.Failed(), "%v", r.Tests)
}

func TestRunFilesKeepsOrder(t *testing.T) {
	var got []string
	paths := []string{"testdata/fail.test.yml", "testdata/pass.test.yml", "testdata/fail.test.yml"}
	RunFiles(context.Background(), paths, Options{Parallel: 3}, func(r *FileResult) { got = append(got, r.Path) })
	require.Equal(t, paths, got)
}

func TestReport(t *testing.T) {
	var out, errOut bytes.Buffer
	WriteReport(&out, &errOut, run(t, "pass.test.yml", Options{}))
	require.Equal(t, "Unit Testing:  testdata/pass.test.yml\n  SUCCESS\n\n", out.String())

	out.Reset()
	WriteReport(&out, &errOut, run(t, "fail.test.yml", Options{Run: regexp.MustCompile("samples")}))
	require.True(t, strings.HasPrefix(out.String(), "Unit Testing:  testdata/fail.test.yml\n  FAILED:\n    name: wrong samples,\n    expr: \"up\", time: 0s,\n"), out.String())
	require.Equal(t, "  WARNING: no file match pattern testdata/missing-*.yml\n", errOut.String())
}

func TestJUnit(t *testing.T) {
	results := []*FileResult{run(t, "pass.test.yml", Options{}), run(t, "fail.test.yml", Options{}), {Path: "broken.yml", Err: os.ErrNotExist}}
	var buf bytes.Buffer
	require.NoError(t, WriteJUnit(&buf, results))
	var doc junitSuites
	require.NoError(t, xml.Unmarshal(buf.Bytes(), &doc))
	require.Equal(t, 7, doc.Tests)
	require.Equal(t, 3, doc.Failures)
	require.Equal(t, 1, doc.Errors)
	require.Len(t, doc.Suites, 3)
	require.Equal(t, "testdata/fail.test.yml", doc.Suites[1].Name)
	require.Equal(t, 3, doc.Suites[1].Failures)
	c := doc.Suites[1].Cases[1]
	require.Equal(t, "wrong samples", c.Name)
	require.Len(t, c.Failures, 1)
	require.Equal(t, `expr: "up", time: 0s,`, c.Failures[0].Message)
	require.Contains(t, c.Failures[0].Text, `+ {__name__="up", job="a"} 1`)
	require.Empty(t, doc.Suites[0].Cases[0].Failures)
	require.Equal(t, "file does not exist", doc.Suites[2].Cases[0].Error.Message)
}

func TestInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := RunFile(ctx, filepath.Join("testdata", "pass.test.yml"), Options{})
	require.True(t, r.Failed())
	require.Contains(t, r.Tests[0].Failures[0], "interrupted at time 0s: context canceled")
}
