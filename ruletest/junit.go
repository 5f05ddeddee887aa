package ruletest

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// The JUnit XML document: one testsuite per file, one testcase per test,
// one failure element per failed check (its first line as the message,
// the whole text as the body). A file that could not be run is a suite
// with one errored case named after the file. This is the layout CI
// systems (GitLab, Jenkins, GitHub reporters) read, and promtool's --junit.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string         `xml:"name,attr"`
	Classname string         `xml:"classname,attr"`
	Time      string         `xml:"time,attr"`
	Failures  []junitProblem `xml:"failure"`
	Error     *junitProblem  `xml:"error"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the results as a JUnit XML document.
func WriteJUnit(w io.Writer, results []*FileResult) error {
	doc := junitSuites{}
	var total time.Duration
	for _, r := range results {
		s := junitSuite{Name: r.Path, Timestamp: r.Started.UTC().Format("2006-01-02T15:04:05")}
		var dur time.Duration
		if r.Err != nil {
			s.Errors++
			s.Cases = append(s.Cases, junitCase{
				Name: r.Path, Classname: r.Path, Time: seconds(0),
				Error: &junitProblem{Message: firstLine(r.Err.Error()), Text: r.Err.Error()},
			})
		}
		for _, t := range r.Tests {
			c := junitCase{Name: t.Name, Classname: r.Path, Time: seconds(t.Duration)}
			for _, f := range t.Failures {
				c.Failures = append(c.Failures, junitProblem{Message: firstLine(f), Text: f})
			}
			if t.Failed() {
				s.Failures++
			}
			dur += t.Duration
			s.Cases = append(s.Cases, c)
		}
		s.Tests = len(s.Cases)
		s.Time = seconds(dur)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		total += dur
		doc.Suites = append(doc.Suites, s)
	}
	doc.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write JUnit XML: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// firstLine returns the first non-empty line of s, trimmed.
func firstLine(s string) string {
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}
