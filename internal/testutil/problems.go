package testutil

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// RuleProblem is what a problem with a rule file is about, in terms both
// promtool and alerter print, so that their messages can be compared: the
// file (base name), the line (0 when not given), the rule it names (group,
// index and name, empty for a problem of the file or a group) and the
// reason.
type RuleProblem struct {
	File   string
	Line   int
	Rule   string
	Reason string
}

func (p RuleProblem) String() string {
	s := p.File
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line)
	}
	if p.Rule != "" {
		s += ": " + p.Rule
	}
	return s + ": " + p.Reason
}

var (
	// promtool: "FILE: [L:C: [L:C: ]]group "G", rule N, "R": REASON" or
	// "FILE: L:C: REASON".
	promtoolRule = regexp.MustCompile(`^(?:.*/)?([^/:]+): ((?:\d+:\d+: )*)group (".*"), rule (\d+), (".*?"): (.*)$`)
	promtoolFile = regexp.MustCompile(`^(?:.*/)?([^/:]+): ((?:\d+:\d+: )*)(.*)$`)
	// promtool prints the YAML decoder's "FILE: yaml: unmarshal errors:"
	// and then "  line N: field F not found in type T" for each.
	promtoolYAML    = regexp.MustCompile(`^(?:.*/)?([^/:]+): yaml: unmarshal errors:$`)
	promtoolUnknown = regexp.MustCompile(`^  line (\d+): field (\S+) not found in type \S+$`)
	// alerter: "FILE:L:C: group "G", rule N ("R"): REASON", or
	// "FILE:L:C: REASON"; an unknown field is "... field F not found in X".
	alerterRule    = regexp.MustCompile(`^(?:.*/)?([^/:]+):(\d+):\d+: group (".*"), rule (\d+) \((".*?")\): (.*)$`)
	alerterFile    = regexp.MustCompile(`^(?:.*/)?([^/:]+):(\d+):\d+: (.*)$`)
	alerterUnknown = regexp.MustCompile(`^(?:group ".*"(?:, rule \d+ \(".*?"\))?: )?field (\S+) not found in .*$`)
	position       = regexp.MustCompile(`^(\d+):\d+: `)
)

// PromtoolProblems reads the problems in promtool's output of check rules:
// the lines after "FAILED:"; a line it cannot read is a problem whose
// reason is the whole line.
func PromtoolProblems(out string) []RuleProblem {
	var (
		ps       []RuleProblem
		failed   bool
		yamlFile string
	)
	for _, line := range strings.Split(out, "\n") {
		if !failed {
			failed = strings.TrimSpace(line) == "FAILED:"
			continue
		}
		if m := promtoolYAML.FindStringSubmatch(line); m != nil {
			yamlFile = m[1]
			continue
		}
		if m := promtoolUnknown.FindStringSubmatch(line); m != nil && yamlFile != "" {
			n, _ := strconv.Atoi(m[1])
			ps = append(ps, RuleProblem{File: yamlFile, Line: n, Reason: "unknown field " + m[2]})
			continue
		}
		if p, ok := PromtoolProblem(line); ok {
			ps = append(ps, p)
		} else if strings.TrimSpace(line) != "" {
			ps = append(ps, RuleProblem{Reason: line})
		}
	}
	return ps
}

// PromtoolProblem reads one line of promtool's naming a file's problem;
// of several positions it keeps the first, and 0:0 is no position.
func PromtoolProblem(line string) (RuleProblem, bool) {
	if m := promtoolRule.FindStringSubmatch(line); m != nil {
		return RuleProblem{File: m[1], Line: firstLine(m[2]), Rule: rule(m[3], m[4], m[5]), Reason: m[6]}, true
	}
	if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
		return RuleProblem{}, false
	}
	if m := promtoolFile.FindStringSubmatch(line); m != nil && strings.Contains(m[1], ".") {
		return RuleProblem{File: m[1], Line: firstLine(m[2]), Reason: m[3]}, true
	}
	return RuleProblem{}, false
}

// AlerterProblem reads one of alerter's messages about a rule file.
func AlerterProblem(line string) (RuleProblem, bool) {
	if m := alerterRule.FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[2])
		p := RuleProblem{File: m[1], Line: n, Rule: rule(m[3], m[4], m[5]), Reason: m[6]}
		if u := alerterUnknown.FindStringSubmatch(m[6]); u != nil {
			p.Rule, p.Reason = "", "unknown field "+u[1]
		}
		return p, true
	}
	if m := alerterFile.FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[2])
		p := RuleProblem{File: m[1], Line: n, Reason: m[3]}
		if u := alerterUnknown.FindStringSubmatch(m[3]); u != nil {
			p.Reason = "unknown field " + u[1]
		}
		return p, true
	}
	return RuleProblem{}, false
}

func rule(group, index, name string) string {
	return fmt.Sprintf("group %s, rule %s, %s", group, index, name)
}

// firstLine returns the line of the first of "L:C: " positions, 0 for none.
func firstLine(positions string) int {
	m := position.FindStringSubmatch(positions)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// SameProblem reports whether alerter's problem is promtool's: the same
// file, rule and reason, and the same line where promtool gives one.
func SameProblem(promtool, alerter RuleProblem) bool {
	if promtool.Line == 0 {
		alerter.Line = 0
	}
	return promtool == alerter
}
