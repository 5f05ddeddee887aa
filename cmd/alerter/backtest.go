package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/alerter/alerter/backtest"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/datasource/promapi"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/silences"
	"github.com/alerter/alerter/storage"
	alerterweb "github.com/alerter/alerter/web"
)

// defaultBacktestQueryTimeout is the least time a backtest's range query
// may take: longer than a rule's instant query (a datasource's timeout),
// since it covers up to 11,000 steps.
const defaultBacktestQueryTimeout = 2 * time.Minute

// backtestFlags are the flags of `alerter backtest`.
type backtestFlags struct {
	configFile, storagePath, externalURL string
	from, to, step, rule, output         string
	silences                             string
	queryTimeout                         time.Duration
}

// parseBacktestFlags parses the flags of `alerter backtest`; when done is
// set the command ends with code (--help, or a usage error).
func parseBacktestFlags(args []string, stdout, stderr io.Writer) (f backtestFlags, code int, done bool) {
	fs := newFlags("alerter backtest", "alerter backtest --config.file=FILE --from=T [--to=now] [--rule=NAME] [--step=D] [--output=table|json]",
		"Replays the configuration's alerting rules and routing over a past range and reports when each alert\n"+
			"fired and which notifications would have gone out. Nothing is sent. Exit 0: the report; 1: the\n"+
			"configuration or storage cannot be read, or every evaluation failed; 2: usage.")
	fs.StringVar(&f.configFile, "config.file", "alerter.yml", "alerter configuration file")
	fs.StringVar(&f.from, "from", "", "start of the range: RFC 3339, Unix seconds, now or relative (-7d, now-2h) (required)")
	fs.StringVar(&f.to, "to", "now", "end of the range, as --from")
	fs.StringVar(&f.step, "step", "", "time between evaluations (1m); default: each group's interval or schedule")
	fs.StringVar(&f.rule, "rule", "", "backtest only the alerting rules of this name")
	fs.StringVar(&f.output, "output", "table", "output format: table or json")
	fs.StringVar(&f.storagePath, "storage.path", "", "storage folder of an alerter that is not running, to read its silences from (default: no silences)")
	fs.StringVar(&f.silences, "silences", "current", "with --storage.path: current (the silences active now, over the whole range) or recorded (every stored silence, at its own time)")
	fs.StringVar(&f.externalURL, "web.external-url", "", "external URL for generatorURL and templates (default: global.external_url)")
	fs.DurationVar(&f.queryTimeout, "query.timeout", defaultBacktestQueryTimeout, "timeout of each range query (a datasource's longer timeout wins)")
	rest, code, done := fs.parse(args, stdout, stderr)
	switch {
	case done:
		return f, code, true
	case len(rest) > 0:
		return f, fs.usageError(stderr, "unexpected argument %q", rest[0]), true
	case f.from == "":
		return f, fs.usageError(stderr, "--from is required"), true
	case f.output != "table" && f.output != "json":
		return f, fs.usageError(stderr, "--output %q: want table or json", f.output), true
	case f.silences != "current" && f.silences != "recorded":
		return f, fs.usageError(stderr, "--silences %q: want current or recorded", f.silences), true
	}
	return f, 0, false
}

// runBacktest runs `alerter backtest`: exit 0 with the report, 1 when the
// configuration or the storage cannot be read, 2 on a usage error.
func runBacktest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, code, done := parseBacktestFlags(args, stdout, stderr)
	if done {
		return code
	}
	now := time.Now()
	from, err1 := backtest.ParseTime(f.from, now)
	to, err2 := backtest.ParseTime(f.to, now)
	step, err3 := backtest.ParseStep(f.step)
	if err := errors.Join(err1, err2, err3); err != nil {
		fmt.Fprintf(stderr, "alerter backtest: %v\n", err)
		return exitUsage
	}
	l, _, err := load(f.configFile)
	if err != nil {
		fmt.Fprintf(stderr, "alerter backtest: load configuration:\n%v\n", err)
		return exitProblems
	}
	opts, closeSources, err := backtestOptions(l, f, nil)
	if err != nil {
		fmt.Fprintf(stderr, "alerter backtest: %v\n", err)
		return exitProblems
	}
	defer closeSources()
	opts.From, opts.To, opts.Step, opts.Rule = from, to, step, f.rule
	if f.storagePath != "" {
		sils, err := storedSilences(ctx, f.storagePath)
		if err != nil {
			fmt.Fprintf(stderr, "alerter backtest: %v\n", err)
			return exitProblems
		}
		if f.silences == "current" {
			sils = backtest.CurrentSilences(sils, now, from, to)
		}
		opts.Silences = sils
	}
	rep, err := backtest.Run(ctx, opts)
	switch {
	case errors.Is(err, backtest.ErrInvalid):
		fmt.Fprintf(stderr, "alerter backtest: %v\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "alerter backtest: %v\n", err)
		return exitProblems
	}
	if f.output == "json" {
		err = backtest.WriteJSON(stdout, rep)
	} else {
		err = backtest.WriteText(stdout, rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "alerter backtest: %v\n", err)
		return exitProblems
	}
	if why := nothingEvaluated(rep); why != "" {
		fmt.Fprintf(stderr, "alerter backtest: every evaluation failed, so the report says nothing: %s\n", why)
		return exitProblems
	}
	return exitOK
}

// nothingEvaluated returns, when every evaluation of every rule failed,
// the first rule's error; "" when some evaluation worked.
func nothingEvaluated(rep *backtest.Report) string {
	why := ""
	for _, r := range rep.Rules {
		if r.FailedEvaluations < r.Evaluations || r.Evaluations == 0 {
			return ""
		}
		if why == "" {
			why = fmt.Sprintf("rule %q: %s", r.Name, r.Error)
		}
	}
	return why
}

// storageFile is the database under --storage.path (storage.Open's).
const storageFile = "alerter.db"

// storedSilences reads every silence of the storage folder at path. The
// folder is locked by a running alerter: then its API serves the backtest.
func storedSilences(ctx context.Context, path string) ([]silences.Silence, error) {
	// Opening would make a new, empty storage where there is none.
	if _, err := os.Stat(filepath.Join(path, storageFile)); err != nil {
		return nil, fmt.Errorf("--storage.path %s: no alerter storage there: %w", path, err)
	}
	db, err := storage.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%w (while alerter runs, use its POST /api/v1/backtest, which applies its silences)", err)
	}
	defer db.Close()
	return db.Silences().LoadSilences(ctx)
}

// backtestOptions returns the backtest options of a loaded configuration:
// the rules as the evaluator would run them and the routing, with query
// clients of their own (with the longer timeout of range queries; closed
// by the returned func). Embedded datasources come from running, keyed by
// name; without them, rules on an embedded datasource fail.
func backtestOptions(l *loaded, f backtestFlags, running map[string]evaluator.Datasource) (backtest.Options, func(), error) {
	ext, err := backtestExternalURL(f.externalURL, l.cfg.Global.ExternalURL)
	if err != nil {
		return backtest.Options{}, nil, err
	}
	ds := make(map[string]evaluator.Datasource, len(l.cfg.Datasources))
	var clients []*promapi.Client
	closeAll := func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}
	for _, dc := range l.cfg.Datasources {
		if dc.Type != config.TypePrometheus {
			if d, ok := running[dc.Name]; ok {
				ds[dc.Name] = evaluator.Datasource{Name: dc.Name, Querier: d.Querier}
			} else {
				ds[dc.Name] = evaluator.Datasource{Name: dc.Name, Querier: unavailable(dc.Name)}
			}
			continue
		}
		c, err := newQueryClient(dc, max(time.Duration(dc.Timeout), f.queryTimeout))
		if err != nil {
			closeAll()
			return backtest.Options{}, nil, err
		}
		clients = append(clients, c)
		ds[dc.Name] = evaluator.Datasource{Name: dc.Name, Querier: c}
	}
	return backtest.Options{Rules: evaluatorConfig(l, ds, ext), Routing: l.cfg.Routing}, closeAll, nil
}

// backtestExternalURL is --web.external-url, else global.external_url,
// else none.
func backtestExternalURL(flagValue, configValue string) (*url.URL, error) {
	s := flagValue
	if s == "" {
		s = configValue
	}
	if s == "" {
		return nil, nil
	}
	u, err := config.ParseExternalURL(s)
	if err != nil {
		return nil, fmt.Errorf("external URL: %w", err)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// unavailable is the querier of an embedded datasource that the command
// line cannot open: its store belongs to the running alerter.
func unavailable(name string) evaluator.QuerierFunc {
	return func(context.Context, string, time.Time) (promql.Vector, error) {
		return nil, fmt.Errorf("datasource %q is embedded: backtest it through the running alerter's POST /api/v1/backtest", name)
	}
}

// evaluatorConfig is the rule configuration of l as the evaluator runs it.
func evaluatorConfig(l *loaded, ds map[string]evaluator.Datasource, ext *url.URL) evaluator.Config {
	ec := evaluator.Config{
		Files:              l.files,
		Datasources:        ds,
		DefaultInterval:    time.Duration(l.cfg.Global.EvaluationInterval),
		DefaultQueryOffset: time.Duration(l.cfg.Global.RuleQueryOffset),
		ResendDelay:        time.Duration(l.cfg.Global.ResendDelay),
		Concurrency:        l.cfg.Global.EvaluationConcurrency,
		ExternalLabels:     labels.FromMap(l.cfg.Global.ExternalLabels),
		ExternalURL:        ext,
	}
	if def, ok := l.cfg.Datasource(""); ok {
		ec.DefaultDatasource = def.Name
	}
	return ec
}

// maxServerBacktest bounds a backtest that the API runs.
const maxServerBacktest = 10 * time.Minute

// backtester serves POST /api/v1/backtest with the configuration applied
// last: the reloader hands it each one. One backtest runs at a time.
type backtester struct {
	current  atomic.Pointer[backtestConfig]
	silences *silences.Store
	running  sync.Mutex
}

// backtestConfig is what a backtest needs of one applied configuration.
type backtestConfig struct {
	l   *loaded
	ds  map[string]evaluator.Datasource // the running datasources, for embedded ones
	ext *url.URL
}

// set records the configuration just applied.
func (b *backtester) set(l *loaded, ds map[string]evaluator.Datasource, ext *url.URL) {
	b.current.Store(&backtestConfig{l: l, ds: ds, ext: ext})
}

// run implements web.Options.Backtest: it applies the current silences
// over the whole range, as the command line does by default.
func (b *backtester) run(ctx context.Context, req alerterweb.BacktestRequest) (*backtest.Report, error) {
	bc := b.current.Load()
	if bc == nil {
		return nil, errors.New("no configuration is loaded yet")
	}
	if !b.running.TryLock() {
		return nil, alerterweb.ErrBacktestBusy
	}
	defer b.running.Unlock()
	f := backtestFlags{queryTimeout: defaultBacktestQueryTimeout}
	if bc.ext != nil {
		f.externalURL = bc.ext.String()
	}
	opts, closeSources, err := backtestOptions(bc.l, f, bc.ds)
	if err != nil {
		return nil, err
	}
	defer closeSources()
	opts.From, opts.To, opts.Step, opts.Rule = req.From, req.To, req.Step, req.Rule
	if b.silences != nil {
		opts.Silences = backtest.CurrentSilences(b.silences.Query(), time.Now(), req.From, req.To)
	}
	ctx, cancel := context.WithTimeout(ctx, maxServerBacktest)
	defer cancel()
	return backtest.Run(ctx, opts)
}
