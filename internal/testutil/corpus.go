// Package testutil holds helpers shared by alerter's tests: where the
// corpus lives, free ports, and finding installed programs.
package testutil

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// RepoRoot returns the repository's top folder.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// CorpusDir returns the folder of the corpus of public rule files, unit
// tests and Alertmanager configs, testdata/corpus in the repository (each
// source with its LICENSE and SOURCE.md; INDEX.md describes them).
func CorpusDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "testdata", "corpus")
	if _, err := os.Stat(filepath.Join(dir, "INDEX.md")); err != nil {
		t.Fatalf("the corpus is not at %s: %v", dir, err)
	}
	return dir
}

// CorpusList reads a list file of the corpus (one path per line, optionally
// followed by a tab and a verdict; # starts a comment) and returns its rows
// split on tabs.
func CorpusList(t testing.TB, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(CorpusDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rows = append(rows, strings.Split(line, "\t"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s lists nothing", name)
	}
	return rows
}

// Program returns the path of an installed program, failing the test with
// the package to install when it is missing. Tests never skip for this:
// .ci/run installs what they need.
func Program(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: apt-get install -y %s (or run .ci/run)", name, debianPackage)
	}
	return p
}
