package main

import (
	"context"
	"errors"
	"flag"
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
	if len(args) == 0 || args[0] != "rules" {
		fmt.Fprint(stderr, "alerter test: want \"rules FILE...\"\n\n"+usage)
		return exitUsage
	}
	fs := flag.NewFlagSet("alerter test rules", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var runs stringList
	fs.Var(&runs, "run", "run only the tests whose name matches this regular expression (repeatable: any of them)")
	junit := fs.String("junit", "", "also write the results as JUnit XML to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: alerter test rules [--run REGEX]... [--junit FILE] FILE...")
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return exitUsage
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "alerter test rules: want at least one FILE")
		return exitUsage
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

	code := exitOK
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
