package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTestRules(t *testing.T) {
	pass := filepath.Join("..", "..", "ruletest", "testdata", "pass.test.yml")
	fail := filepath.Join("..", "..", "ruletest", "testdata", "fail.test.yml")

	code, stdout, _ := runCLI(t, "test", "rules", pass)
	require.Equal(t, exitOK, code)
	require.Equal(t, "Unit Testing:  "+pass+"\n  SUCCESS\n\n", stdout)

	junit := filepath.Join(t.TempDir(), "junit.xml")
	code, stdout, stderr := runCLI(t, "test", "rules", pass, fail, "--junit", junit)
	require.Equal(t, exitProblems, code)
	require.Contains(t, stdout, "Unit Testing:  "+fail+"\n  FAILED:\n    name: wrong alerts,\n    alertname: HighErrors, time: 5m,\n")
	require.Contains(t, stderr, "WARNING: no file match pattern")
	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	require.NoError(t, xml.Unmarshal(b, &doc))
	require.Equal(t, 6, doc.Tests)
	require.Equal(t, 3, doc.Failures)

	// --run selects tests by name (repeatable; any of them).
	code, stdout, _ = runCLI(t, "test", "rules", "--run", "^keep", "--run", "start", pass, fail)
	require.Equal(t, exitOK, code, stdout)
	code, _, _ = runCLI(t, "test", "rules", "--run", "wrong samples", fail)
	require.Equal(t, exitProblems, code)

	for _, args := range [][]string{
		{"test"}, {"test", "alerts", pass}, {"test", "rules"}, {"test", "rules", "--run", "(", pass}, {"test", "rules", "--bogus", pass},
	} {
		code, _, _ := runCLI(t, args...)
		require.Equal(t, exitUsage, code, "%q", args)
	}
	code, stdout, _ = runCLI(t, "test", "rules", "does-not-exist.yml")
	require.Equal(t, exitProblems, code)
	require.Contains(t, stdout, "  FAILED:\nopen does-not-exist.yml: no such file or directory")
}
