package ruletest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/internal/testutil"
)

// knownDifferences lists corpus files whose verdict differs from promtool
// 3.13's, each with the reason. The test fails on any other difference,
// and on an entry here that agrees again.
var knownDifferences = map[string]string{}

// TestCorpusVerdicts runs every unit-test file of the corpus and
// checks that each gives the verdict promtool 3.13 gave (test-files.txt).
func TestCorpusVerdicts(t *testing.T) {
	dir := testutil.CorpusDir(t)
	rows := testutil.CorpusList(t, "test-files.txt")
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
