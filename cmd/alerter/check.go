package main

import (
	"errors"
	"fmt"
	"io"
)

// runCheck runs `alerter check config FILE` and `alerter check rules FILE...`.
func runCheck(args []string, stdout, stderr io.Writer) int {
	sub, args, code, done := subcommand("check", map[string]string{
		"config": "check a configuration and every rule file it names",
		"rules":  "check rule files on their own",
	}, args, stdout, stderr)
	if done {
		return code
	}
	switch sub {
	case "config":
		f := newFlags("alerter check config", "alerter check config FILE",
			"Checks the configuration FILE and every rule and series file it names, builds its integrations and\n"+
				"query clients (contacting nothing), and prints what it found per file, every problem as\n"+
				"file:line:col: message, and WARNING lines for what will load but not work. Exit 0: no problem;\n"+
				"1: problems; 2: usage.")
		files, code, done := f.parse(args, stdout, stderr)
		if done {
			return code
		}
		if len(files) != 1 {
			return f.usageError(stderr, "want exactly one FILE")
		}
		return checkConfig(files[0], stdout, stderr)
	default:
		f := newFlags("alerter check rules", "alerter check rules FILE...",
			"Checks Prometheus rule files as promtool check rules does. Exit 0: no problem; 1: problems; 2: usage.")
		files, code, done := f.parse(args, stdout, stderr)
		if done {
			return code
		}
		if len(files) == 0 {
			return f.usageError(stderr, "want at least one FILE")
		}
		return checkRules(files, stdout, stderr)
	}
}

// checkConfig checks a config and the rule files it names, printing a
// section per file as promtool does.
func checkConfig(path string, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "Checking %s\n", path)
	_, reports, err := load(path)
	if reports == nil {
		fmt.Fprintf(stderr, "  FAILED:\n%s\n", err)
		return exitProblems
	}
	own := reports[0]
	if len(own.errs) > 0 {
		fmt.Fprintf(stderr, "  FAILED:\n%s\n", errors.Join(own.errs...))
	} else {
		ruleFiles := 0
		for _, rep := range reports[1:] {
			if !rep.series {
				ruleFiles++
			}
		}
		fmt.Fprintf(stdout, "  SUCCESS: %d rule files found\n", ruleFiles)
	}
	for _, w := range own.warnings {
		fmt.Fprintf(stderr, "  WARNING: %s\n", w)
	}
	for _, rep := range reports[1:] {
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
