// Package rules reads Prometheus rule files (plus alerter's schedule and
// datasource extensions) into immutable values and validates them the way
// promtool does, reporting every problem with its file, line and column.
package rules

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// File is one parsed rule file.
type File struct {
	// Path is the file's path as it was given (used in error messages and as
	// half of each group's identity).
	Path   string
	Groups []RuleGroup
}

// RuleCount returns the number of alerting and recording rules in f.
func (f *File) RuleCount() (alerting, recording int) {
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.IsAlerting() {
				alerting++
			} else {
				recording++
			}
		}
	}
	return alerting, recording
}

// RuleGroup is a list of rules evaluated together on one schedule.
type RuleGroup struct {
	Name string
	// Interval is the group's evaluation interval; zero means the global default.
	Interval time.Duration
	// Schedule is a cron expression (alerter extension); exclusive with Interval.
	Schedule string
	// QueryOffset, when set, shifts every query of the group into the past.
	QueryOffset *time.Duration
	// Limit caps the number of alerts (or series) a rule may produce; 0 is no limit.
	Limit int
	// Labels are added to every rule of the group (rule labels win).
	Labels map[string]string
	// Datasource names the configured datasource to query (alerter
	// extension); empty means the default one.
	Datasource string
	Rules      []Rule
	Pos        Position
}

// Rule is an alerting rule (Alert set) or a recording rule (Record set).
type Rule struct {
	Record        string
	Alert         string
	Expr          string
	For           time.Duration
	KeepFiringFor time.Duration
	Labels        map[string]string
	Annotations   map[string]string
	Pos           Position
}

// Name returns the alert name or the recorded metric name.
func (r Rule) Name() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

// IsAlerting reports whether r is an alerting rule.
func (r Rule) IsAlerting() bool { return r.Alert != "" }

// Position is a 1-based line and column in a YAML file.
type Position struct {
	Line, Column int
}

// Error is one problem in a rule file, with where it is.
type Error struct {
	File   string
	Line   int
	Column int
	// Group is the group's name; empty when the problem is outside any group.
	Group string
	// Rule is the 1-based index of the rule in its group; 0 when the problem
	// is not about one rule.
	Rule     int
	RuleName string
	Err      error
}

// Error formats e as `file:line:col: group "g", rule N ("Name"): message`,
// leaving out the parts that are not known.
func (e *Error) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	}
	switch {
	case e.Rule > 0:
		return fmt.Sprintf("%s: group %q, rule %d (%q): %v", where, e.Group, e.Rule, e.RuleName, e.Err)
	case e.Group != "":
		return fmt.Sprintf("%s: group %q: %v", where, e.Group, e.Err)
	default:
		return fmt.Sprintf("%s: %v", where, e.Err)
	}
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// cronParser accepts 5 or 6 fields (seconds optional), descriptors such as
// "@every 30s" or "@daily", and a CRON_TZ= or TZ= prefix.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour |
	cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a group's cron schedule.
func ParseSchedule(spec string) (cron.Schedule, error) {
	return cronParser.Parse(spec)
}
