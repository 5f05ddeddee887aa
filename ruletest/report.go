package ruletest

import (
	"fmt"
	"io"
)

// WriteReport writes the outcome of one file as promtool does, for people:
// "Unit Testing:  FILE", then "  SUCCESS", or "  FAILED:" followed by each
// failure (naming its test) and a blank line. Warnings go to stderr; the
// verdict lines and failures to stdout.
func WriteReport(stdout, stderr io.Writer, r *FileResult) {
	fmt.Fprintf(stdout, "Unit Testing:  %s\n", r.Path)
	for _, w := range r.Warnings {
		fmt.Fprintf(stderr, "  WARNING: %s\n", w)
	}
	if !r.Failed() {
		fmt.Fprintf(stdout, "  SUCCESS\n\n")
		return
	}
	fmt.Fprintln(stdout, "  FAILED:")
	if r.Err != nil {
		fmt.Fprintf(stdout, "%s\n\n", r.Err)
	}
	for _, t := range r.Tests {
		for _, f := range t.Failures {
			fmt.Fprintf(stdout, "    name: %s,\n%s\n\n", t.Name, f)
		}
	}
}
