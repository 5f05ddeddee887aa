package ruletest

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/internal/testutil"
)

// knownDifferences lists corpus files whose verdict differs from promtool
// 3.13's, each with the reason. The test fails on any other difference,
// and on an entry here that agrees again.
var knownDifferences = map[string]string{}

// knownMessageDifferences lists failing corpus files where alerter fails
// for a reason other than promtool 3.13's, each with why.
var knownMessageDifferences = map[string]string{}

// corpusReferences are the EXPECTED files holding promtool 3.13's output
// for every failing unit-test file and broken rule file of the corpus.
var corpusReferences = []string{
	"EXPECTED-promtool-3.13-failures.md",
	"prometheus-promtool-testdata/head/EXPECTED-promtool-3.13.md",
	"prometheus-promtool-testdata/v2.42.0/EXPECTED-promtool-3.13.md",
}

// TestCorpusVerdicts runs every unit-test file of the corpus and
// checks that each gives the verdict promtool 3.13 gave (test-files.txt)
// and, where that is a failure, fails for the reasons promtool gave: the
// same checks (test, alert or query, evaluation time) with the same
// expected and fired alert counts or the same error, in the same order.
// Then it runs the corpus again without the step cache and requires every
// message to be the same.
func TestCorpusVerdicts(t *testing.T) {
	dir := testutil.CorpusDir(t)
	rows := testutil.CorpusList(t, "test-files.txt")
	refs := testutil.CorpusReferences(t, corpusReferences...)
	start := time.Now()
	type outcome struct {
		path, want string
		res        *FileResult
	}
	var (
		out   []outcome
		paths []string
	)
	for _, row := range rows {
		if len(row) != 2 || (row[1] != "pass" && row[1] != "fail") {
			t.Fatalf("test-files.txt: bad row %q", row)
		}
		out = append(out, outcome{path: row[0], want: row[1]})
		paths = append(paths, filepath.Join(dir, row[0]))
	}
	// As many files at once as there are CPUs; the tests of a file run in
	// order.
	i := 0
	RunFiles(context.Background(), paths, Options{}, func(r *FileResult) {
		out[i].res = r
		i++
	})
	agree := 0
	for _, o := range out {
		got := "pass"
		if o.res.Failed() {
			got = "fail"
		}
		reason, known := knownDifferences[o.path]
		switch {
		case got == o.want && known:
			t.Errorf("%s: agrees with promtool (%s) but is listed as a known difference (%s)", o.path, got, reason)
		case got == o.want:
			agree++
		case known:
			t.Logf("%s: known difference: promtool %s, alerter %s: %s", o.path, o.want, got, reason)
		default:
			t.Errorf("%s: promtool says %s, alerter %s%s", o.path, o.want, got, describe(o.res))
		}
	}
	t.Logf("agreement with promtool 3.13: %d/%d files (%d known differences) in %s", agree, len(out), len(knownDifferences), time.Since(start).Round(time.Millisecond))

	same, failing := 0, 0
	for _, o := range out {
		if o.want != "fail" {
			continue
		}
		failing++
		ref, ok := refs[o.path]
		if !ok {
			t.Errorf("%s: no promtool 3.13 output in %v", o.path, corpusReferences)
			continue
		}
		want, got := promtoolFailures(ref.Output), alerterFailures(o.res)
		if len(want) == 0 || ref.Exit != 1 {
			t.Errorf("%s: promtool's recorded run (exit %d) shows no failure", o.path, ref.Exit)
		}
		diff := diffFailures(want, got)
		reason, known := knownMessageDifferences[o.path]
		switch {
		case diff == "" && known:
			t.Errorf("%s: fails as promtool does but is listed as a known difference (%s)", o.path, reason)
		case diff == "":
			same++
		case known:
			t.Logf("%s: known difference in failures: %s", o.path, reason)
		default:
			t.Errorf("%s: fails otherwise than promtool 3.13 (- promtool, + alerter):\n%s", o.path, diff)
		}
	}
	t.Logf("failing for promtool's reasons: %d/%d files", same, failing)

	// The step cache answers rule queries from range queries; the uncached
	// path must say the same, message for message, on every file.
	i = 0
	RunFiles(context.Background(), paths, Options{noStepCache: true}, func(r *FileResult) {
		o := out[i]
		i++
		if (r.Err == nil) != (o.res.Err == nil) || (r.Err != nil && r.Err.Error() != o.res.Err.Error()) {
			t.Errorf("%s: file error with the step cache %v, without %v", o.path, o.res.Err, r.Err)
		}
		if len(r.Tests) != len(o.res.Tests) {
			t.Errorf("%s: %d tests with the step cache, %d without", o.path, len(o.res.Tests), len(r.Tests))
			return
		}
		for j, tr := range r.Tests {
			if !slices.Equal(normalizeAll(tr.Failures), normalizeAll(o.res.Tests[j].Failures)) {
				t.Errorf("%s: test %s: with the step cache:\n%s\nwithout:\n%s", o.path, tr.Name,
					strings.Join(o.res.Tests[j].Failures, "\n"), strings.Join(tr.Failures, "\n"))
			}
		}
	})
}

// normalizeAll normalizes each message (see normalize).
func normalizeAll(msgs []string) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = normalize(m)
	}
	return out
}

// describe summarises a result's failures for a test log.
func describe(r *FileResult) string {
	var b strings.Builder
	if r.Err != nil {
		b.WriteString("\n  file error: " + r.Err.Error())
	}
	for _, tr := range r.Tests {
		for _, f := range tr.Failures {
			b.WriteString("\n  [" + tr.Name + "]\n" + f)
		}
	}
	return b.String()
}
