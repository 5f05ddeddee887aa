package main

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/datasource/embedded"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/rules"
)

// loaded is a configuration with its rule files, all checked: what a start
// or a reload applies.
type loaded struct {
	cfg   *config.Config
	files []*rules.File
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
// that series files parse. It returns every problem.
func load(path string) (*loaded, []fileReport, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	// Receivers of kinds alerter cannot deliver to parse (so that
	// `routes test` works on any Alertmanager config) but cannot run.
	if errs := cfg.Routing.UnsupportedReceivers(); len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	// Notification templates are parsed now, so that `check config`
	// reports a broken one as start-up would.
	if cfg.Routing != nil {
		if _, err := notifiers.LoadTemplate(cfg.Routing, ""); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	paths, err := cfg.RuleFilePaths()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	l := &loaded{cfg: cfg}
	reports := make([]fileReport, 0, len(paths))
	for _, p := range paths {
		rep := fileReport{path: p}
		f, ferrs := rules.ParseFile(p)
		rep.errs = append(rep.errs, ferrs...)
		if f != nil {
			rep.alerting, rep.recording = f.RuleCount()
			rep.errs = append(rep.errs, checkDatasources(cfg, f)...)
			l.files = append(l.files, f)
		}
		errs = append(errs, rep.errs...)
		reports = append(reports, rep)
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
