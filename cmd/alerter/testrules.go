package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/alerter/alerter/ruletest"
)

// runTest runs `alerter test rules [--run REGEX]... [--junit FILE] FILE...`:
// promtool's rule unit tests. It exits 0 when every test passes, 1 when
// one fails (or a file cannot be run), 2 on a usage error.
func runTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	_, args, code, done := subcommand("test", map[string]string{
		"rules": "run promtool rule unit tests",
	}, args, stdout, stderr)
	if done {
		return code
	}
	fs := newFlags("alerter test rules", "alerter test rules [--run REGEX]... [--junit FILE] FILE...",
		"Runs promtool's rule unit-test files with alerter's evaluator, as promtool test rules does.\n"+
			"Exit 0: every test passed; 1: a test failed, a file could not run, or --run selected no test; 2: usage.")
	var runs stringList
	fs.Var(&runs, "run", "run only the tests whose name matches this `REGEX` (repeatable: any of them)")
	junit := fs.String("junit", "", "also write the results as JUnit XML to this file")
	files, code, done := fs.parse(args, stdout, stderr)
	if done {
		return code
	}
	if len(files) == 0 {
		return fs.usageError(stderr, "want at least one FILE")
	}
	var opts ruletest.Options
	if len(runs) > 0 {
		re, err := regexp.Compile(strings.Join(runs, "|"))
		if err != nil {
			fmt.Fprintf(stderr, "alerter test rules: --run: %v\n", err)
			return exitUsage
		}
		opts.Run = re
	}

	code = exitOK
	var results []*ruletest.FileResult
	ruletest.RunFiles(ctx, files, opts, func(r *ruletest.FileResult) {
		ruletest.WriteReport(stdout, stderr, r)
		if r.Failed() {
			code = exitProblems
		}
		results = append(results, r)
	})
	if *junit != "" {
		if err := writeJUnitFile(*junit, results); err != nil {
			fmt.Fprintf(stderr, "alerter test rules: %v\n", err)
			return exitProblems
		}
	}
	ran := 0
	for _, r := range results {
		ran += len(r.Tests)
	}
	if opts.Run != nil && ran == 0 {
		fmt.Fprintf(stderr, "alerter test rules: --run %s selected no test in %d file(s): nothing was tested\n", strings.Join(runs, " --run "), len(files))
		return exitProblems
	}
	return code
}

// writeJUnitFile writes the results as JUnit XML to path.
func writeJUnitFile(path string, results []*ruletest.FileResult) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write JUnit XML: %w", err)
	}
	return errors.Join(ruletest.WriteJUnit(f, results), f.Close())
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set adds one value.
func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
