package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// runCheck runs `alerter check config FILE` and `alerter check rules FILE...`.
func runCheck(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "alerter check: want \"config FILE\" or \"rules FILE...\"\n\n"+usage)
		return exitUsage
	}
	fs := flag.NewFlagSet("alerter check "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	switch args[0] {
	case "config":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "alerter check config: want exactly one FILE")
			return exitUsage
		}
		return checkConfig(fs.Arg(0), stdout, stderr)
	case "rules":
		if fs.NArg() == 0 {
			fmt.Fprintln(stderr, "alerter check rules: want at least one FILE")
			return exitUsage
		}
		return checkRules(fs.Args(), stdout, stderr)
	default:
		fmt.Fprintf(stderr, "alerter check: unknown subcommand %q\n\n%s", args[0], usage)
		return exitUsage
	}
}

// checkConfig checks a config and the rule files it names, printing a
// section per file as promtool does.
func checkConfig(path string, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "Checking %s\n", path)
	l, reports, err := load(path)
	if reports == nil && err != nil {
		fmt.Fprintf(stderr, "  FAILED:\n%s\n", err)
		return exitProblems
	}
	if l != nil {
		for _, w := range l.warnings {
			if !strings.HasPrefix(w, path+": ") {
				continue // a rule file's: printed with it below
			}
			fmt.Fprintf(stderr, "  WARNING: %s\n", strings.TrimPrefix(w, path+": "))
		}
	}
	ruleFiles := 0
	for _, rep := range reports {
		if !rep.series {
			ruleFiles++
		}
	}
	fmt.Fprintf(stdout, "  SUCCESS: %d rule files found\n", ruleFiles)
	for _, rep := range reports {
		fmt.Fprintf(stdout, "\nChecking %s\n", rep.path)
		printReport(rep, stdout, stderr)
	}
	if err != nil {
		return exitProblems
	}
	return exitOK
}

// checkRules checks each rule file on its own (datasource names are not
// checked: that needs a config).
func checkRules(paths []string, stdout, stderr io.Writer) int {
	code := exitOK
	for i, p := range paths {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "Checking %s\n", p)
		if printReport(ruleFileReport(p).fileReport, stdout, stderr) {
			code = exitProblems
		}
	}
	return code
}

// printReport prints a file's result and reports whether it failed.
func printReport(rep fileReport, stdout, stderr io.Writer) bool {
	if len(rep.errs) > 0 {
		fmt.Fprintln(stderr, "  FAILED:")
		for _, e := range rep.errs {
			fmt.Fprintln(stderr, e)
		}
		return true
	}
	if rep.series {
		fmt.Fprintf(stdout, "  SUCCESS: %d series found\n", rep.count)
		return false
	}
	fmt.Fprintf(stdout, "  SUCCESS: %d rules found (%d alerting, %d recording)\n",
		rep.alerting+rep.recording, rep.alerting, rep.recording)
	for _, w := range rep.warnings {
		fmt.Fprintf(stderr, "  WARNING: %s\n", w)
	}
	return false
}
