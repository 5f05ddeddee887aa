package ruletest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// Engine limits of promtool's test engine (promqltest's lazy loader):
// a query that loads more samples fails, in promtool as here.
const (
	maxSamples   = 10000
	queryTimeout = 100 * time.Second
)

// store is one test's TSDB and PromQL engine. It implements the
// evaluator's Querier and Appender.
type store struct {
	dir    string
	db     *tsdb.DB
	engine *promql.Engine
}

// openStore opens an empty TSDB in a temporary folder, with the options of
// Prometheus' test storage (a 24h head chunk range, no retention), and a
// PromQL engine that parses queries with p and gives subqueries without a
// step subqueryStep, as promtool gives them its evaluation_interval. The
// write-ahead log is off: nothing outlives the test.
func openStore(subqueryStep time.Duration, p parser.Parser) (*store, error) {
	dir, err := os.MkdirTemp("", "alerter-test-rules-")
	if err != nil {
		return nil, fmt.Errorf("test storage: %w", err)
	}
	opts := tsdb.DefaultOptions()
	opts.MinBlockDuration = (24 * time.Hour).Milliseconds()
	opts.MaxBlockDuration = opts.MinBlockDuration
	opts.RetentionDuration = 0
	opts.OutOfOrderTimeWindow = 0
	opts.WALSegmentSize = -1
	// A test has few series: fewer lock stripes and a small chunk write
	// buffer make the head cheaper to create (the defaults are for
	// millions of series).
	opts.StripeSize = 64
	opts.HeadChunksWriteBufferSize = chunks.MinWriteBufferSize
	logger := slog.New(slog.DiscardHandler)
	db, err := tsdb.Open(dir, logger, nil, opts, nil)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("test storage: %w", err), os.RemoveAll(dir))
	}
	// Writing blocks to disk would only cost time: everything stays in
	// the head, where it is as queryable.
	db.DisableCompactions()
	step := subqueryStep.Milliseconds()
	engine := promql.NewEngine(promql.EngineOpts{
		Logger:                   logger,
		MaxSamples:               maxSamples,
		Timeout:                  queryTimeout,
		NoStepSubqueryIntervalFn: func(int64) int64 { return step },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		Parser:                   p,
	})
	return &store{dir: dir, db: db, engine: engine}, nil
}

// Close closes the TSDB and deletes its folder.
func (s *store) Close() error {
	return errors.Join(s.engine.Close(), s.db.Close(), os.RemoveAll(s.dir))
}

// Query runs an instant query as Prometheus' rule manager does: a scalar
// comes back as one sample without labels, any other type than a vector is
// an error.
func (s *store) Query(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
	q, err := s.engine.NewInstantQuery(ctx, s.db, nil, expr, ts)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		return v, nil
	case promql.Scalar:
		return promql.Vector{{T: v.T, F: v.V, Metric: labels.EmptyLabels()}}, nil
	default:
		return nil, errors.New("rule result is not a vector or scalar")
	}
}

// Append stores samples in one transaction, as a Prometheus rule group
// stores a rule's result: every sample is tried, and a sample the TSDB
// refuses (out of order, a second value for a timestamp) makes the rule's
// evaluation fail with the last such error. Refused stale markers are not
// errors: the series may come from another rule or the input.
func (s *store) Append(ctx context.Context, samples []promql.Sample) error {
	app := s.db.AppenderV2(ctx)
	var last error
	for _, smp := range samples {
		err := appendSample(app, smp)
		if err != nil && !value.IsStaleNaN(smp.F) {
			last = err
		}
	}
	if err := app.Commit(); err != nil {
		return err
	}
	return last
}

// load appends input samples, failing on the first one the TSDB refuses,
// as promtool's loader does.
func (s *store) load(ctx context.Context, samples []promql.Sample) error {
	app := s.db.AppenderV2(ctx)
	for _, smp := range samples {
		err := appendSample(app, smp)
		if err != nil {
			return errors.Join(err, app.Rollback())
		}
	}
	return app.Commit()
}

// appendSample adds one float or histogram sample to app.
func appendSample(app storage.AppenderV2, smp promql.Sample) error {
	var err error
	if smp.H != nil {
		_, err = app.Append(0, smp.Metric, 0, smp.T, 0, nil, smp.H, storage.AOptions{})
	} else {
		_, err = app.Append(0, smp.Metric, 0, smp.T, smp.F, nil, nil, storage.AOptions{})
	}
	return err
}
