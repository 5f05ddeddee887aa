package ruletest

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// failure is what a unit-test failure is about, in terms both promtool and
// alerter print: the check (an alert test, a query test, a rule that
// failed to evaluate, or a problem with a file), its subject, the
// evaluation time, and the reason: the error, or for an alert test how
// many alerts were expected and how many fired. The wording of a diff is
// alerter's own and is not compared.
type failure struct {
	// Test is the test's name where promtool prints it: alert tests of a
	// named test only.
	Test    string
	Kind    string // "alert", "expr", "rule" or "file"
	Subject string // alert name, query or rule name
	Time    time.Duration
	Reason  string
	// Problem is a problem with a file (Kind "file").
	Problem testutil.RuleProblem
}

// same reports whether alerter's failure g is promtool's f (see
// testutil.SameProblem for problems with rule files).
func (f failure) same(g failure) bool {
	if !testutil.SameProblem(f.Problem, g.Problem) {
		return false
	}
	f.Problem, g.Problem = testutil.RuleProblem{}, testutil.RuleProblem{}
	return f == g
}

func (f failure) String() string {
	if f.Kind == "file" {
		return "file problem: " + f.Problem.String()
	}
	s := fmt.Sprintf("%s %q at %s: %s", f.Kind, f.Subject, f.Time, f.Reason)
	if f.Test != "" {
		s = "test " + strconv.Quote(f.Test) + ": " + s
	}
	return s
}

var (
	failedName  = regexp.MustCompile(`^    name: (.*),$`)
	failedAlert = regexp.MustCompile(`^    alertname: (.*), time: ([0-9a-z.]+), ?$`)
	failedExpr  = regexp.MustCompile(`^    expr: (".*"), time: ([0-9a-z.]+),(?: err: (.*))?$`)
	failedRule  = regexp.MustCompile(`^    rule: (.*), time: ([0-9a-z.]+), err: (.*)$`)
	// alerter's summary line of an alert test's diff.
	alertCounts = regexp.MustCompile(`^        exp (\d+) firing alerts?, got (\d+) `)
	// The series of a many-to-many error, which the engine lists in an
	// order that varies from run to run (promtool printed both orders here).
	duplicateSeries = regexp.MustCompile(`(found duplicate series for the match group .* on the (?:left|right) hand-side of the operation: \[)(.*)(\];)`)
)

// normalize makes an error comparable across runs: the series of a
// many-to-many matching error are sorted.
func normalize(reason string) string {
	m := duplicateSeries.FindStringSubmatchIndex(reason)
	if m == nil {
		return reason
	}
	list := strings.Split(reason[m[4]:m[5]], "}, {")
	for i := range list {
		list[i] = strings.Trim(list[i], "{}")
	}
	slices.Sort(list)
	return reason[:m[4]] + "{" + strings.Join(list, "}, {") + "}" + reason[m[5]:]
}

// parseDuration reads an evaluation time as either tool prints it:
// promtool's Go durations (5m0s) or Prometheus durations (5m).
func parseDuration(s string) time.Duration {
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return -1 // shows in the comparison as a time nobody printed
	}
	return d
}

// promtoolFailures reads the failures from promtool test rules' output:
// everything after "FAILED:", in the order printed.
func promtoolFailures(out string) []failure {
	var (
		fs     []failure
		name   string
		failed bool
		cur    *failure // the alert test whose exp/got lists are being counted
		exp    int
		got    int
		inGot  bool
		files  []string // lines about files, read together at the end
	)
	finish := func() {
		if cur != nil {
			cur.Reason = fmt.Sprintf("expected %d, got %d", exp, got)
			fs = append(fs, *cur)
			cur = nil
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if !failed {
			failed = strings.TrimSpace(line) == "FAILED:"
			continue
		}
		if cur != nil && strings.HasPrefix(line, "        ") {
			switch t := strings.TrimSpace(line); {
			case strings.HasPrefix(t, "got:"):
				inGot = true
			case strings.HasPrefix(t, "Labels:"):
				if inGot {
					got++
				} else {
					exp++
				}
			}
			continue
		}
		finish()
		if strings.TrimSpace(line) == "" {
			continue
		}
		if m := failedName.FindStringSubmatch(line); m != nil {
			name = m[1]
			continue
		}
		if m := failedAlert.FindStringSubmatch(line); m != nil {
			cur = &failure{Test: name, Kind: "alert", Subject: m[1], Time: parseDuration(m[2])}
			exp, got, inGot, name = 0, 0, false, ""
			continue
		}
		name = ""
		if f, ok := checkFailure(line); ok {
			fs = append(fs, f)
			continue
		}
		if !strings.HasPrefix(line, "        ") { // not a query test's exp/got
			files = append(files, line)
		}
	}
	finish()
	// Problems with files come before any test runs.
	var problems []failure
	for _, p := range testutil.PromtoolProblems("FAILED:\n" + strings.Join(files, "\n")) {
		p.Reason = normalize(p.Reason)
		problems = append(problems, failure{Kind: "file", Problem: p})
	}
	return append(problems, fs...)
}

// checkFailure reads the first line of a query test's or rule's failure,
// the same in both tools.
func checkFailure(line string) (failure, bool) {
	if m := failedExpr.FindStringSubmatch(line); m != nil {
		q, err := strconv.Unquote(m[1])
		if err != nil {
			q = m[1]
		}
		reason := normalize(m[3])
		if reason == "" {
			reason = "values differ"
		}
		return failure{Kind: "expr", Subject: q, Time: parseDuration(m[2]), Reason: reason}, true
	}
	if m := failedRule.FindStringSubmatch(line); m != nil {
		return failure{Kind: "rule", Subject: m[1], Time: parseDuration(m[2]), Reason: normalize(m[3])}, true
	}
	return failure{}, false
}

// alerterFailures reads the failures of alerter's result, in the order
// alerter reports them.
func alerterFailures(r *FileResult) []failure {
	var (
		fs    []failure
		files []string
	)
	if r.Err != nil {
		files = append(files, strings.Split(r.Err.Error(), "\n")...)
	}
	for _, t := range r.Tests {
		for _, msg := range t.Failures {
			lines := strings.Split(msg, "\n")
			if m := failedAlert.FindStringSubmatch(lines[0]); m != nil {
				f := failure{Kind: "alert", Subject: m[1], Time: parseDuration(m[2])}
				if !strings.HasPrefix(t.Name, "unnamed#") {
					f.Test = t.Name
				}
				if len(lines) > 1 {
					if c := alertCounts.FindStringSubmatch(lines[1]); c != nil {
						f.Reason = fmt.Sprintf("expected %s, got %s", c[1], c[2])
					}
				}
				fs = append(fs, f)
				continue
			}
			if f, ok := checkFailure(lines[0]); ok {
				fs = append(fs, f)
				continue
			}
			files = append(files, lines...)
		}
	}
	var problems []failure
	for _, l := range files {
		p, ok := testutil.AlerterProblem(l)
		if !ok {
			p = testutil.RuleProblem{Reason: l}
		}
		p.Reason = normalize(p.Reason)
		problems = append(problems, failure{Kind: "file", Problem: p})
	}
	return append(problems, fs...)
}

// diffFailures lists, line by line, where promtool's and alerter's lists
// of failures differ; empty when they are the same.
func diffFailures(want, got []failure) string {
	var b strings.Builder
	for k := range max(len(want), len(got)) {
		switch {
		case k >= len(want):
			fmt.Fprintf(&b, "  + %s\n", got[k])
		case k >= len(got):
			fmt.Fprintf(&b, "  - %s\n", want[k])
		case !want[k].same(got[k]):
			fmt.Fprintf(&b, "  - %s\n  + %s\n", want[k], got[k])
		}
	}
	return b.String()
}

func TestPromtoolFailuresRead(t *testing.T) {
	out := `  FAILED:
    name: Failing test,
    alertname: Test, time: 0s, 
        exp:[
            0:
              Labels:{alertname="Test"}
              Annotations:{}
            ], 
        got:[]

    expr: "test", time: 0s,
        exp: {__name__="test"} 1E+00
        got: {__name__="test"} 0E+00

    alertname: Other, time: 5m, 
        exp:[], 
        got:[
            0:
              Labels:{alertname="Other"}
              Annotations:{}
            1:
              Labels:{alertname="Other", a="b"}
              Annotations:{}
            ]
    rule: joined, time: 1h0m0s, err: found duplicate series for the match group {a="1"} on the right hand-side of the operation: [{b="4"}, {b="3"}];many-to-many matching not allowed
bad.yml: 7:15: group "g", rule 1, "x": could not parse expression: 1:7: parse error: unexpected end of input
rules.yml: yaml: unmarshal errors:
  line 7: field namespace not found in type rulefmt.RuleGroup
`
	want := []failure{
		{Kind: "file", Problem: testutil.RuleProblem{File: "bad.yml", Line: 7, Rule: `group "g", rule 1, "x"`, Reason: "could not parse expression: 1:7: parse error: unexpected end of input"}},
		{Kind: "file", Problem: testutil.RuleProblem{File: "rules.yml", Line: 7, Reason: "unknown field namespace"}},
		{Test: "Failing test", Kind: "alert", Subject: "Test", Reason: "expected 1, got 0"},
		{Kind: "expr", Subject: "test", Reason: "values differ"},
		{Kind: "alert", Subject: "Other", Time: 5 * time.Minute, Reason: "expected 0, got 2"},
		{Kind: "rule", Subject: "joined", Time: time.Hour, Reason: `found duplicate series for the match group {a="1"} on the right hand-side of the operation: [{b="3"}, {b="4"}];many-to-many matching not allowed`},
	}
	require.Equal(t, want, promtoolFailures(out))

	// alerter's layout of the same problems reads the same.
	r := &FileResult{Tests: []TestResult{
		{Name: "t0", Failures: []string{"/x/bad.yml:7:15: group \"g\", rule 1 (\"x\"): could not parse expression: 1:7: parse error: unexpected end of input\n/x/rules.yml:7:5: group \"g\": field namespace not found in rule group"}},
		{Name: "Failing test", Failures: []string{"    alertname: Test, time: 0s,\n        exp 1 firing alert, got 0 (- expected, + got):\n        - {}"}},
		{Name: "unnamed#1", Failures: []string{
			"    expr: \"test\", time: 0s,\n        exp 1 sample, got 1 (- expected, + got):",
			"    alertname: Other, time: 5m,\n        exp 0 firing alerts, got 2 (- expected, + got):",
			`    rule: joined, time: 1h, err: found duplicate series for the match group {a="1"} on the right hand-side of the operation: [{b="3"}, {b="4"}];many-to-many matching not allowed`,
		}},
	}}
	require.Empty(t, diffFailures(want, alerterFailures(r)))

	// A different line, count or reason is a difference.
	r.Tests[1].Failures[0] = "    alertname: Test, time: 0s,\n        exp 1 firing alert, got 1 (- expected, + got):"
	require.Contains(t, diffFailures(want, alerterFailures(r)), `+ test "Failing test": alert "Test" at 0s: expected 1, got 1`)
}
