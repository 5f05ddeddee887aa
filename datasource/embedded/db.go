package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/compression"
)

// Defaults for Options fields left zero.
const (
	DefaultRetention          = 24 * time.Hour
	DefaultScrapeInterval     = 15 * time.Second
	DefaultEvaluationInterval = time.Minute
)

// Engine limits, as Prometheus' defaults.
const (
	maxSamples    = 50_000_000
	queryTimeout  = 2 * time.Minute
	lookbackDelta = 5 * time.Minute
)

// ErrClosed is returned by Query and Append once the DB is closed.
var ErrClosed = errors.New("embedded datasource closed")

// Options configure a DB.
type Options struct {
	// Name names the datasource in logs and metrics.
	Name string
	// Dir is the TSDB directory; it is created if missing. alerter passes
	// <storage.path>/embedded/<name>.
	Dir string
	// Retention is how long samples are kept (default 24h).
	Retention time.Duration
	// SeriesFiles are the series files to replay, already glob-expanded.
	SeriesFiles []string
	// ScrapeInterval is the time between two gathers of Gatherer
	// (default 15s).
	ScrapeInterval time.Duration
	// Gatherer supplies alerter's own metrics; nil stores none.
	Gatherer prometheus.Gatherer
	// SelfLabels are added to the self-metrics as target labels, for
	// example job="alerter" and instance="host:port".
	SelfLabels map[string]string
	// EvaluationInterval is the step of subqueries written without one
	// ([1h:]), as Prometheus takes its global evaluation_interval
	// (default 1m).
	EvaluationInterval time.Duration
	// Registerer, if not nil, gets the DB's metrics while it is open.
	Registerer prometheus.Registerer
	// Logger logs, scoped by the caller (component, datasource); nil
	// discards.
	Logger *slog.Logger
}

// validate checks o and fills in its defaults.
func (o *Options) validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("dir is required"))
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"retention", &o.Retention, DefaultRetention},
		{"scrape interval", &o.ScrapeInterval, DefaultScrapeInterval},
		{"evaluation interval", &o.EvaluationInterval, DefaultEvaluationInterval},
	} {
		switch {
		case *d.v < 0:
			errs = append(errs, fmt.Errorf("%s %s: must not be negative", d.name, *d.v))
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

// DB is an embedded datasource: a PromQL engine over a local TSDB. Query and
// Append are safe for concurrent use.
type DB struct {
	opts    Options
	logger  *slog.Logger
	files   []*SeriesFile
	self    labels.Labels
	tsdb    *tsdb.DB
	engine  *promql.Engine
	skipped *prometheus.CounterVec

	// mu is held shared by every use of tsdb and exclusively by Close, so
	// that Close waits for running queries and appends and nothing touches
	// the TSDB's memory-mapped files after it.
	mu     sync.RWMutex
	closed bool
}

// Open opens (or creates) the TSDB in opts.Dir and parses every series file.
// It starts no work of its own: call Run to feed the store.
func Open(opts Options) (*DB, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("embedded datasource %q: %w", opts.Name, err)
	}
	files, err := loadSeriesFiles(opts.SeriesFiles)
	if err != nil {
		return nil, fmt.Errorf("embedded datasource %q: %w", opts.Name, err)
	}
	// The caller scopes the logger (component, datasource), as elsewhere in
	// alerter; the parts inside are told apart by subsystem.
	logger := opts.Logger

	topts := tsdb.DefaultOptions()
	topts.RetentionDuration = opts.Retention.Milliseconds()
	topts.WALCompression = compression.Snappy // Prometheus' default.
	tdb, err := tsdb.Open(opts.Dir, logger.With("subsystem", "tsdb"), nil, topts, nil)
	if err != nil {
		return nil, fmt.Errorf("embedded datasource %q: open tsdb %s: %w", opts.Name, opts.Dir, err)
	}

	interval := opts.EvaluationInterval.Milliseconds()
	p := parser.NewParser(parser.Options{})
	db := &DB{
		opts:   opts,
		logger: logger,
		files:  files,
		self:   targetLabels(opts.SelfLabels),
		tsdb:   tdb,
		engine: promql.NewEngine(promql.EngineOpts{
			Logger:                   logger.With("subsystem", "query engine"),
			MaxSamples:               maxSamples,
			Timeout:                  queryTimeout,
			LookbackDelta:            lookbackDelta,
			NoStepSubqueryIntervalFn: func(int64) int64 { return interval },
			// Always on in Prometheus since v2.33.
			EnableAtModifier:     true,
			EnableNegativeOffset: true,
			Parser:               p,
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "alerter_embedded_samples_skipped_total",
			Help:        "Samples not stored because they were out of order, too old or duplicates with another value.",
			ConstLabels: prometheus.Labels{"datasource": opts.Name},
		}, []string{"reason"}),
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(db.skipped); err != nil {
			return nil, errors.Join(fmt.Errorf("embedded datasource %q: register metrics: %w", opts.Name, err), tdb.Close())
		}
	}
	return db, nil
}

// loadSeriesFiles loads every file, reporting all problems, including a
// series defined in two files.
func loadSeriesFiles(paths []string) ([]*SeriesFile, error) {
	var (
		files []*SeriesFile
		errs  []error
		seen  = map[string]string{}
	)
	for _, path := range paths {
		f, err := LoadSeriesFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range f.Series {
			key := s.Labels.String()
			where := fmt.Sprintf("%s:%d", path, s.Line)
			if prev, dup := seen[key]; dup {
				errs = append(errs, fmt.Errorf("%s: series %s already defined at %s", where, key, prev))
			}
			seen[key] = where
		}
		files = append(files, f)
	}
	return files, errors.Join(errs...)
}

// Close closes the TSDB. Call it once Run has returned; calling it again
// does nothing.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	if db.opts.Registerer != nil {
		db.opts.Registerer.Unregister(db.skipped)
	}
	if err := db.tsdb.Close(); err != nil {
		return fmt.Errorf("embedded datasource %q: close tsdb: %w", db.opts.Name, err)
	}
	return nil
}

// Queryable returns the store, for running a PromQL engine of one's own
// over it (rule unit tests). It must not be used after Close.
func (db *DB) Queryable() storage.Queryable {
	return db.tsdb
}

// Query runs the instant query expr at ts. A scalar result comes back as one
// sample without labels; any other type than vector or scalar is an error,
// as in Prometheus' rule manager. Errors are the engine's own, so that a
// parse error reads as Prometheus writes it; when ctx ends they also wrap
// its cause.
func (db *DB) Query(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	q, err := db.engine.NewInstantQuery(ctx, db.tsdb, nil, expr, ts)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		if ctx.Err() != nil {
			// The engine's ErrQueryCanceled does not wrap the cause; do, so
			// that callers can tell a shutdown from a failure.
			return nil, fmt.Errorf("%w: %w", res.Err, context.Cause(ctx))
		}
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		return v, nil
	case promql.Scalar:
		return promql.Vector{{T: v.T, F: v.V, Metric: labels.EmptyLabels()}}, nil
	default:
		return nil, fmt.Errorf("query %q: result is a %s, want a vector or a scalar", expr, res.Value.Type())
	}
}

// Append stores samples in one transaction. A sample whose F is the stale
// marker marks its series stale. Samples that are out of order, too old, or
// that repeat a timestamp with another value are skipped and counted; other
// rejected samples are reported in the error once the rest is stored.
func (db *DB) Append(ctx context.Context, samples []promql.Sample) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	return db.appendSamples(ctx, samples)
}

// appendSamples is Append without the checks; db.mu must be held.
func (db *DB) appendSamples(ctx context.Context, samples []promql.Sample) error {
	app := db.tsdb.AppenderV2(ctx)
	var (
		rejected int
		first    error
		skipped  map[string]int
	)
	for i := range samples {
		s := &samples[i]
		var err error
		if s.H != nil {
			_, err = app.Append(0, s.Metric, 0, s.T, 0, nil, s.H, storage.AOptions{})
		} else {
			_, err = app.Append(0, s.Metric, 0, s.T, s.F, nil, nil, storage.AOptions{})
		}
		if err == nil {
			continue
		}
		if reason := skipReason(err); reason != "" {
			if skipped == nil {
				skipped = map[string]int{}
			}
			skipped[reason]++
			db.skipped.WithLabelValues(reason).Inc()
			continue
		}
		if rejected++; first == nil {
			first = fmt.Errorf("sample %s @%d: %w", s.Metric, s.T, err)
		}
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("append: commit: %w", err)
	}
	if len(skipped) > 0 {
		db.logger.Debug("Samples skipped", "reasons", skipped, "samples", len(samples))
	}
	if rejected > 0 {
		return fmt.Errorf("append: %d of %d samples rejected, first: %w", rejected, len(samples), first)
	}
	return nil
}

// skipReason names the reason to skip a sample that the TSDB refused, or
// returns "" if the refusal is an error to report.
func skipReason(err error) string {
	switch {
	case errors.Is(err, storage.ErrOutOfOrderSample):
		return "out_of_order"
	case errors.Is(err, storage.ErrTooOldSample):
		return "too_old"
	case errors.Is(err, storage.ErrOutOfBounds):
		return "out_of_bounds"
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		return "duplicate"
	default:
		return ""
	}
}

// targetLabels turns m into labels, dropping empty values as Prometheus
// drops empty target labels.
func targetLabels(m map[string]string) labels.Labels {
	b := labels.NewBuilder(labels.EmptyLabels())
	for k, v := range m {
		b.Set(k, v)
	}
	return b.Labels()
}
