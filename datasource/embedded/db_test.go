package embedded

import (
	"context"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/evaluator"
)

var (
	_ evaluator.Querier  = (*DB)(nil)
	_ evaluator.Appender = (*DB)(nil)
)

// t0 is an arbitrary, millisecond-aligned time for samples.
var t0 = time.UnixMilli(1_700_000_000_000)

// openDB opens a DB in a fresh directory, closed at the end of the test.
func openDB(t testing.TB, opts Options) *DB {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	db, err := Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// sample builds a float sample from a metric in PromQL notation.
func sample(t testing.TB, metric string, ts time.Time, v float64) promql.Sample {
	t.Helper()
	f, err := parseSeriesFile("sample", fmt.Appendf(nil, "input_series: [{series: '%s', values: '0'}]", metric), maxFileValues)
	require.NoError(t, err)
	return promql.Sample{Metric: f.Series[0].Labels, T: ts.UnixMilli(), F: v}
}

// values renders a vector as sorted "labels => value" strings.
func values(v promql.Vector) []string {
	out := make([]string, 0, len(v))
	for _, s := range v {
		out = append(out, fmt.Sprintf("%s => %g", s.Metric, s.F))
	}
	sort.Strings(out)
	return out
}

func TestAppendQuery(t *testing.T) {
	db := openDB(t, Options{})
	ctx := t.Context()
	require.NoError(t, db.Append(ctx, []promql.Sample{
		sample(t, `x{a="1"}`, t0, 1),
		sample(t, `x{a="2"}`, t0, 2),
	}))

	v, err := db.Query(ctx, "x", t0)
	require.NoError(t, err)
	require.Equal(t, []string{`{__name__="x", a="1"} => 1`, `{__name__="x", a="2"} => 2`}, values(v))
	require.Equal(t, t0.UnixMilli(), v[0].T)

	v, err = db.Query(ctx, `sum(x) * 10`, t0.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, []string{`{} => 30`}, values(v))

	v, err = db.Query(ctx, "1+1", t0)
	require.NoError(t, err)
	require.Equal(t, promql.Vector{{T: t0.UnixMilli(), F: 2, Metric: labels.EmptyLabels()}}, v)

	_, err = db.Query(ctx, "x[5m]", t0)
	require.ErrorContains(t, err, "want a vector or a scalar")
	_, err = db.Query(ctx, `"text"`, t0)
	require.ErrorContains(t, err, "want a vector or a scalar")

	_, err = db.Query(ctx, "sum(x", t0)
	require.ErrorContains(t, err, "parse error")
	require.ErrorContains(t, err, "unclosed left parenthesis")

	// Beyond the 5m lookback the series are gone.
	v, err = db.Query(ctx, "x", t0.Add(6*time.Minute))
	require.NoError(t, err)
	require.Empty(t, v)
}

func TestStaleMarker(t *testing.T) {
	db := openDB(t, Options{})
	ctx := t.Context()
	t1 := t0.Add(15 * time.Second)
	require.NoError(t, db.Append(ctx, []promql.Sample{sample(t, `x{a="1"}`, t0, 1), sample(t, `x{a="2"}`, t0, 2)}))
	require.NoError(t, db.Append(ctx, []promql.Sample{
		sample(t, `x{a="1"}`, t1, math.Float64frombits(value.StaleNaN)),
		sample(t, `x{a="2"}`, t1, 3),
	}))

	v, err := db.Query(ctx, "x", t1.Add(-time.Millisecond))
	require.NoError(t, err)
	require.Len(t, v, 2, "before the marker both series are there")
	v, err = db.Query(ctx, "x", t1)
	require.NoError(t, err)
	require.Equal(t, []string{`{__name__="x", a="2"} => 3`}, values(v))
}

func TestAppendSkipsAndCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	db := openDB(t, Options{Name: "local", Registerer: reg})
	ctx := t.Context()
	require.NoError(t, db.Append(ctx, []promql.Sample{sample(t, "x", t0, 1)}))

	// A different value at the same time, and an older sample: skipped.
	require.NoError(t, db.Append(ctx, []promql.Sample{
		sample(t, "x", t0, 5),
		sample(t, "x", t0.Add(-time.Second), 7),
		sample(t, "y", t0, 8),
	}))
	require.InDelta(t, 1, testutil.ToFloat64(db.skipped.WithLabelValues("duplicate")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(db.skipped.WithLabelValues("out_of_order")), 0)
	n, err := testutil.GatherAndCount(reg, "alerter_embedded_samples_skipped_total")
	require.NoError(t, err)
	require.Equal(t, 2, n)

	// Another refusal is reported, and the rest is still stored.
	err = db.Append(ctx, []promql.Sample{
		{Metric: labels.EmptyLabels(), T: t0.UnixMilli(), F: 1},
		sample(t, "z", t0, 9),
	})
	require.ErrorContains(t, err, "1 of 2 samples rejected")

	v, err := db.Query(ctx, `{__name__=~"x|y|z"}`, t0)
	require.NoError(t, err)
	require.Equal(t, []string{`{__name__="x"} => 1`, `{__name__="y"} => 8`, `{__name__="z"} => 9`}, values(v))
}

func TestContextAndClose(t *testing.T) {
	reg := prometheus.NewRegistry()
	db, err := Open(Options{Dir: t.TempDir(), Registerer: reg})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = db.Query(ctx, "1", t0)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, db.Append(ctx, []promql.Sample{sample(t, "x", t0, 1)}), context.Canceled)

	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "Close twice")
	_, err = db.Query(t.Context(), "1", t0)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, db.Append(t.Context(), nil), ErrClosed)

	// The metrics left with the DB, so a new one can register them.
	db2 := openDB(t, Options{Registerer: reg})
	require.NotNil(t, db2)
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(Options{Name: "local"})
	require.ErrorContains(t, err, "dir is required")
	_, err = Open(Options{Dir: t.TempDir(), Retention: -time.Hour, ScrapeInterval: -1})
	require.ErrorContains(t, err, "retention -1h0m0s: must not be negative")
	require.ErrorContains(t, err, "scrape interval")

	// Every bad series file is reported, and a series defined twice.
	_, err = Open(Options{Dir: t.TempDir(), SeriesFiles: []string{
		"testdata/basic.good.yml", "testdata/bad_series.bad.yml", "testdata/missing_values.bad.yml", "testdata/basic.good.yml",
	}})
	require.ErrorContains(t, err, "bad_series.bad.yml:4")
	require.ErrorContains(t, err, "missing_values.bad.yml:2")
	require.ErrorContains(t, err, "testdata/basic.good.yml:4: series {__name__=\"http_requests_total\", code=\"500\", job=\"web\"} already defined at testdata/basic.good.yml:4")
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, db.Append(t.Context(), []promql.Sample{sample(t, `kept{a="b"}`, t0, 42)}))
	require.NoError(t, db.Close())

	db = openDB(t, Options{Dir: dir})
	v, err := db.Query(t.Context(), "kept", t0)
	require.NoError(t, err)
	require.Equal(t, []string{`{__name__="kept", a="b"} => 42`}, values(v))
}

func TestQueryable(t *testing.T) {
	db := openDB(t, Options{})
	require.NoError(t, db.Append(t.Context(), []promql.Sample{sample(t, "x", t0, 1)}))
	q, err := db.Queryable().Querier(t0.UnixMilli()-1, t0.UnixMilli()+1)
	require.NoError(t, err)
	defer q.Close()
	names, _, err := q.LabelValues(t.Context(), model.MetricNameLabel, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"x"}, names)
}

func BenchmarkQuery(b *testing.B) {
	db := openDB(b, Options{})
	const series, points = 1000, 20
	for p := range points {
		ts := t0.Add(time.Duration(p) * 15 * time.Second)
		batch := make([]promql.Sample, 0, series)
		for i := range series {
			lbls := labels.FromStrings(model.MetricNameLabel, "bench_metric", "instance", fmt.Sprintf("host-%04d", i), "job", "bench")
			batch = append(batch, promql.Sample{Metric: lbls, T: ts.UnixMilli(), F: float64(p * i)})
		}
		require.NoError(b, db.Append(b.Context(), batch))
	}
	at := t0.Add(points * 15 * time.Second)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		v, err := db.Query(ctx, `bench_metric{job="bench"}`, at)
		if err != nil || len(v) != series {
			b.Fatalf("got %d samples, err %v", len(v), err)
		}
	}
}
