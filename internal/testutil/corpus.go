// Package testutil holds helpers shared by alerter's tests: where the
// corpus lives, free ports, and finding installed programs.
package testutil

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
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

// Reference is one tool run recorded in an EXPECTED-*.md file of the
// corpus: the command, its exit code and what it printed on stdout.
type Reference struct {
	Command string
	Exit    int
	Output  string
}

// CorpusReferences reads the EXPECTED-*.md files named (paths relative to
// the corpus) and returns their runs by the path of the file each ran on,
// relative to the corpus. A section is "## PATH" (relative to the .md's
// folder), a line "`COMMAND` → exit N" and the output in a fenced block.
func CorpusReferences(t testing.TB, names ...string) map[string]Reference {
	t.Helper()
	refs := map[string]Reference{}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(CorpusDir(t), name))
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Dir(name)
		var (
			path string
			ref  Reference
			in   bool
			out  []string
		)
		for i, line := range strings.Split(string(data), "\n") {
			switch {
			case in && line == "```":
				in = false
				ref.Output = strings.Join(out, "\n")
				if path == "" || ref.Command == "" {
					t.Fatalf("%s:%d: output without a section or command", name, i+1)
				}
				refs[filepath.Join(base, path)] = ref
				path, ref, out = "", Reference{}, nil
			case in:
				out = append(out, line)
			case strings.HasPrefix(line, "## "):
				path = strings.TrimSpace(strings.TrimPrefix(line, "## "))
			case strings.HasPrefix(line, "`") && strings.Contains(line, "` → exit "):
				cmd, code, _ := strings.Cut(strings.TrimPrefix(line, "`"), "` → exit ")
				n, err := strconv.Atoi(strings.TrimSpace(code))
				if err != nil {
					t.Fatalf("%s:%d: exit code %q: %v", name, i+1, code, err)
				}
				ref.Command, ref.Exit = cmd, n
			case line == "```" && path != "":
				in = true
			}
		}
		if in {
			t.Fatalf("%s: unterminated output block", name)
		}
	}
	return refs
}
