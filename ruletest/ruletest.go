// Package ruletest runs promtool's rule unit tests (`promtool test rules`
// files) with alerter's own evaluator, giving the verdicts promtool 3 gives.
//
// Each test loads its input series into a fresh TSDB, builds the rule
// groups of the file's rule_files with evaluator.NewGroups, and evaluates
// them one after the other, rule by rule, at every evaluation_interval from
// the test's start (the Unix epoch or start_timestamp) to its last
// eval_time, whatever a group's own interval (or alerter schedule), as
// promtool does. Recording rules and the ALERTS series are written back into
// the TSDB, so later rules and the PromQL checks see them. Alert checks
// compare the alerts firing at the evaluation at or before their eval_time
// (labels with alertname, expanded annotations; pending alerts do not
// count); query checks run once the evaluation is over. Both comparisons
// ignore order; sample values must be equal, or one unit in the last place
// apart with fuzzy_compare.
//
// Rules are queried at every step, so a long test makes tens of thousands
// of queries; where that cannot change a result they are answered from
// range queries (see stepQuerier), which makes long tests many times
// faster than in promtool.
//
// Where alerter differs from promtool, on purpose: groups not named in
// group_eval_order run in file order (promtool's order among them is
// random), a rule file named twice is loaded once, the template functions
// externalURL and pathPrefix work as in the Prometheus server (promtool
// fails on them with a nil pointer error), rule errors give their time
// from the test's start (promtool: from the Unix epoch), and failures show
// a diff of expected and actual alerts instead of the two lists.
package ruletest

import (
	"context"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/alerter/alerter/rules"
)

// Options select and tune what a run does.
type Options struct {
	// Run selects the tests whose name it matches (anywhere in the name,
	// as promtool's --run); nil runs every test. Unnamed tests have the
	// empty name here.
	Run *regexp.Regexp
	// Parallel is how many files RunFiles runs at once; 0 means GOMAXPROCS.
	// The tests of one file run one after the other.
	Parallel int
	// noStepCache makes every rule query an instant query (see
	// stepQuerier), for tests that compare both ways.
	noStepCache bool
}

// FileResult is the outcome of one test file.
type FileResult struct {
	// Path is the test file, as given.
	Path string
	// Started is when the file's run began.
	Started time.Time
	// Err is a problem with the file itself (unreadable, not a test file,
	// a group named twice in group_eval_order): no test ran.
	Err error
	// Warnings are problems that fail nothing, such as a rule_files
	// pattern that matches no file.
	Warnings []string
	// Tests are the tests run, in file order.
	Tests []TestResult
}

// Failed reports whether the file failed: it could not be run or one of
// its tests failed.
func (r *FileResult) Failed() bool {
	if r.Err != nil {
		return true
	}
	for _, t := range r.Tests {
		if t.Failed() {
			return true
		}
	}
	return false
}

// TestResult is the outcome of one test of a file.
type TestResult struct {
	// Name is the test's name, or unnamed#N for the Nth test (from 0).
	Name     string
	Duration time.Duration
	// Failures are the checks that failed and the errors met, each a
	// message of one or more lines in promtool's layout.
	Failures []string
}

// Failed reports whether the test failed.
func (t TestResult) Failed() bool { return len(t.Failures) > 0 }

// RunFile runs the tests of the unit-test file at path. Rule files are
// found relative to the test file's folder.
func RunFile(ctx context.Context, path string, opts Options) *FileResult {
	res := &FileResult{Path: path, Started: time.Now()}
	tf, err := readTestFile(path)
	if err != nil {
		res.Err = err
		return res
	}
	p := parser.NewParser(parser.Options{})
	s := &suite{
		evalInterval: time.Duration(tf.EvaluationInterval), fuzzy: tf.FuzzyCompare,
		parser: p, queryParser: newCachingParser(p), noStepCache: opts.noStepCache,
	}
	files, warnings, err := resolveRuleFiles(filepath.Dir(path), tf.RuleFiles)
	res.Warnings = warnings
	if err != nil {
		res.Err = err
		return res
	}
	if s.order, err = groupOrder(tf.GroupEvalOrder); err != nil {
		res.Err = err
		return res
	}
	loaded := false
	for i := range tf.Tests {
		tg := &tf.Tests[i]
		if opts.Run != nil && !opts.Run.MatchString(tg.Name) {
			continue
		}
		if !loaded { // only when a test runs, as promtool
			s.ruleFiles, s.ruleErrs = loadRuleFiles(files)
			loaded = true
		}
		name := tg.Name
		if name == "" {
			name = "unnamed#" + strconv.Itoa(i)
		}
		if tg.Interval == 0 {
			tg.Interval = tf.EvaluationInterval
		}
		start := time.Now()
		failures := s.runTest(ctx, tg)
		res.Tests = append(res.Tests, TestResult{Name: name, Duration: time.Since(start), Failures: failures})
	}
	return res
}

// RunFiles runs the test files at paths, several at once, and hands each
// result to emit in the order of paths as soon as it and those before it
// are done. emit is called from one goroutine at a time.
func RunFiles(ctx context.Context, paths []string, opts Options, emit func(*FileResult)) {
	n := opts.Parallel
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	done := make([]chan *FileResult, len(paths))
	for i := range done {
		done[i] = make(chan *FileResult, 1)
	}
	sem := make(chan struct{}, n)
	go func() {
		for i, p := range paths {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				done[i] <- RunFile(ctx, p, opts)
			}()
		}
	}()
	for _, c := range done {
		emit(<-c)
	}
}

// loadRuleFiles parses the rule files, returning every problem found.
func loadRuleFiles(paths []string) ([]*rules.File, []error) {
	var (
		files []*rules.File
		errs  []error
	)
	for _, p := range paths {
		f, ferrs := rules.ParseFile(p)
		errs = append(errs, ferrs...)
		if f != nil {
			files = append(files, f)
		}
	}
	return files, errs
}
