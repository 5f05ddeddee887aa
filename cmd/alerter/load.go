package main

import (
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/datasource/embedded"
	"github.com/alerter/alerter/datasource/promapi"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/rules"
)

// loaded is a configuration with its rule files, all checked: what a start
// or a reload applies.
type loaded struct {
	cfg   *config.Config
	files []*rules.File
	// warnings are what is legal but likely not meant: a rule_files
	// pattern that matches nothing, a rule file without groups.
	warnings []string
}

// ruleCount returns the number of rules in every file.
func (l *loaded) ruleCount() int {
	n := 0
	for _, f := range l.files {
		a, r := f.RuleCount()
		n += a + r
	}
	return n
}

// fileReport is what checking one rule or series file found, for `check`
// output.
type fileReport struct {
	path string
	// series is set for series files (and counts their series); rule files
	// count their rules.
	series              bool
	count               int
	alerting, recording int
	errs                []error
	warnings            []string
	// config is set for the configuration file's own report.
	config bool
}

// lowGCPercent is the GC target while a configuration loads: parsing
// thousands of rules builds YAML trees many times the files' size that are
// garbage a moment later, and collecting them eagerly keeps the start-up
// peak of memory near the steady state.
const lowGCPercent = 20

// loadFrugally is load with eager garbage collection; the memory it used
// is handed back to the OS afterwards.
func loadFrugally(path string) (*loaded, []fileReport, error) {
	old := debug.SetGCPercent(lowGCPercent)
	defer func() {
		debug.SetGCPercent(old)
		debug.FreeOSMemory()
	}()
	return load(path)
}

// load reads the config at path and every rule file it names, and checks
// what neither can check alone: that each group's datasource exists, and
// that series files parse. It returns every problem of every file in one
// go: the first report is the config file's own (its problems and
// warnings), then one per rule and series file. The configuration is nil
// when there is a problem.
func load(path string) (*loaded, []fileReport, error) {
	cfg, err := config.Load(path)
	if cfg == nil {
		return nil, nil, err // not even decoded: nothing else to check
	}
	own := fileReport{path: path, config: true}
	if err != nil {
		own.errs = append(own.errs, err)
	} else {
		// Notification templates are parsed and the integrations and
		// query clients built now (nothing is contacted), so that `check
		// config` reports what start-up would refuse: a broken template,
		// an inline TLS key that is not one.
		if len(own.errs) == 0 {
			if err := buildClients(cfg); err != nil {
				own.errs = append(own.errs, fmt.Errorf("%s: %w", path, err))
			}
		}
	}
	paths, warnings, err := cfg.RuleFilePaths()
	if err != nil {
		own.errs = append(own.errs, prefixLines(path, err))
	}
	own.warnings = warnings
	errs := slices.Clone(own.errs)
	l := &loaded{cfg: cfg}
	for _, w := range warnings {
		l.warnings = append(l.warnings, path+": "+w)
	}
	reports := append(make([]fileReport, 0, len(paths)+1), own)
	for _, p := range paths {
		rep := ruleFileReport(p)
		if rep.file != nil {
			rep.errs = append(rep.errs, checkDatasources(cfg, rep.file)...)
			rep.warnings = append(rep.warnings, unevaluatedRecordings(cfg, rep.file)...)
			l.files = append(l.files, rep.file)
		}
		for _, w := range rep.warnings {
			l.warnings = append(l.warnings, p+": "+w)
		}
		errs = append(errs, rep.errs...)
		reports = append(reports, rep.fileReport)
	}
	for _, ds := range cfg.Datasources {
		for _, p := range ds.SeriesFiles {
			rep := fileReport{path: p, series: true}
			sf, err := embedded.LoadSeriesFile(p)
			if err != nil {
				rep.errs = []error{fmt.Errorf("datasource %q: %w", ds.Name, err)}
				errs = append(errs, rep.errs...)
			} else {
				rep.count = len(sf.Series)
			}
			reports = append(reports, rep)
		}
	}
	if len(errs) > 0 {
		return nil, reports, errors.Join(errs...)
	}
	return l, reports, nil
}

// unevaluatedRecordings warns about the recording rules of f that are not
// evaluated: their group's datasource has nowhere to write what they
// record. Each warning names the rules and the fix.
func unevaluatedRecordings(cfg *config.Config, f *rules.File) []string {
	var out []string
	for _, g := range f.Groups {
		ds, ok := cfg.Datasource(g.Datasource)
		if !ok || ds.Type == config.TypeEmbedded || ds.RemoteWrite != nil {
			continue
		}
		var names []string
		for _, r := range g.Rules {
			if r.Record != "" {
				names = append(names, r.Record)
			}
		}
		if len(names) == 0 {
			continue
		}
		shown := strings.Join(names[:min(len(names), 3)], ", ")
		if len(names) > 3 {
			shown += fmt.Sprintf(" and %d more", len(names)-3)
		}
		out = append(out, fmt.Sprintf("group %q: %d recording rule(s) are not evaluated (%s): datasource %q (type %s) has nowhere to write what they record; "+
			"give it a remote_write url (a Prometheus started with --web.enable-remote-write-receiver takes /api/v1/write), or put the group on an embedded datasource",
			g.Name, len(names), shown, ds.Name, ds.Type))
	}
	return out
}

// buildClients builds and drops the notification integrations and the
// query clients of cfg, for the errors that only building finds.
func buildClients(cfg *config.Config) error {
	if cfg.Routing != nil {
		tmpl, err := notifiers.LoadTemplate(cfg.Routing, "")
		if err != nil {
			return err
		}
		if _, err := notifiers.Build(cfg.Routing, notifiers.Options{Template: tmpl}); err != nil {
			return err
		}
	}
	for _, dc := range cfg.Datasources {
		if dc.Type != config.TypePrometheus {
			continue
		}
		c, err := newQueryClient(dc, time.Duration(dc.Timeout))
		if err != nil {
			return err
		}
		c.CloseIdleConnections()
	}
	return nil
}

// newQueryClient returns the query client of a prometheus datasource.
func newQueryClient(dc config.Datasource, timeout time.Duration) (*promapi.Client, error) {
	c, err := promapi.New(promapi.Options{
		Name: dc.Name, URL: dc.URL, Timeout: timeout, HTTPConfig: dc.HTTPConfig,
		UserAgent: "alerter/" + version(), MaxResponseSize: int64(dc.MaxResponseSize),
	})
	if err != nil {
		return nil, err // it names the datasource
	}
	return c, nil
}

// parsedRuleFile is a rule file's report with the file, if it parsed.
type parsedRuleFile struct {
	fileReport
	file *rules.File
}

// ruleFileReport parses one rule file and reports what it holds.
func ruleFileReport(p string) parsedRuleFile {
	rep := parsedRuleFile{fileReport: fileReport{path: p}}
	f, errs := rules.ParseFile(p)
	rep.errs = errs
	if f != nil {
		rep.file = f
		rep.alerting, rep.recording = f.RuleCount()
		if len(f.Groups) == 0 {
			// Prometheus accepts it; it is most likely not meant.
			rep.warnings = append(rep.warnings, "the file has no rule groups")
		}
	}
	return rep
}

// prefixLines prefixes each line of err with path.
func prefixLines(path string, err error) error {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = path + ": " + l
	}
	return errors.New(strings.Join(lines, "\n"))
}

// checkDatasources reports groups that name a datasource the config does
// not have (or need one when none is configured).
func checkDatasources(cfg *config.Config, f *rules.File) []error {
	var errs []error
	for _, g := range f.Groups {
		if _, ok := cfg.Datasource(g.Datasource); ok {
			continue
		}
		e := &rules.Error{File: f.Path, Line: g.Pos.Line, Column: g.Pos.Column, Group: g.Name}
		if g.Datasource == "" {
			e.Err = errors.New("no datasource is configured to evaluate this group against")
		} else {
			e.Err = fmt.Errorf("unknown datasource %q", g.Datasource)
		}
		errs = append(errs, e)
	}
	return errs
}
