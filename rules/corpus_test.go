package rules_test

import (
	"path/filepath"
	"testing"

	"github.com/alerter/alerter/internal/testutil"
	"github.com/alerter/alerter/rules"
)

// TestCorpusAccepted parses every rule file that promtool 3.13 accepts.
func TestCorpusAccepted(t *testing.T) {
	dir := testutil.CorpusDir(t)
	rows := testutil.CorpusList(t, "rule-files.txt")
	total := 0
	for _, row := range rows {
		f, errs := rules.ParseFile(filepath.Join(dir, row[0]))
		for _, err := range errs {
			t.Errorf("%s: %v", row[0], err)
		}
		if f != nil {
			a, r := f.RuleCount()
			total += a + r
		}
	}
	if len(rows) != 540 {
		t.Errorf("rule-files.txt lists %d files, want 540", len(rows))
	}
	t.Logf("%d files, %d rules", len(rows), total)
}

// TestCorpusRejected parses upstream's deliberately broken rule files.
func TestCorpusRejected(t *testing.T) {
	dir := testutil.CorpusDir(t)
	for _, row := range testutil.CorpusList(t, "rule-files-bad.txt") {
		_, errs := rules.ParseFile(filepath.Join(dir, row[0]))
		if len(errs) == 0 {
			t.Errorf("%s: accepted, want rejected", row[0])
		}
		for _, err := range errs {
			t.Logf("%s: %v", row[0], err)
		}
	}
}
