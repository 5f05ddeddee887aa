package embedded

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// Run feeds the store until ctx ends: it stores the self-metrics at once and
// then every ScrapeInterval, and appends each series-file value when the
// clock reaches its time. Errors are logged, not returned: the store stays
// queryable whatever happens here.
func (db *DB) Run(ctx context.Context) {
	start := time.Now().Truncate(time.Millisecond)
	rp := newReplay(db.files, start.UnixMilli())
	sc := newScraper(db.opts.Gatherer, db.self)
	db.logger.Debug("Running", "series", len(rp.series), "self_metrics", sc != nil)

	var scrapeC <-chan time.Time
	if sc != nil {
		tick := time.NewTicker(db.opts.ScrapeInterval)
		defer tick.Stop()
		scrapeC = tick.C
		db.scrape(ctx, sc)
	}
	// One timer, set to the time of the next value due. Since Go 1.23 Reset
	// needs no draining: a stale tick is never delivered.
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var replayC <-chan time.Time
		if samples := rp.due(time.Now().UnixMilli()); len(samples) > 0 {
			db.store(ctx, "replay", samples)
		}
		if next, ok := rp.next(); ok {
			timer.Reset(time.Until(time.UnixMilli(next)))
			replayC = timer.C
		}
		select {
		case <-ctx.Done():
			db.logger.Debug("Stopped", "reason", context.Cause(ctx))
			return
		case <-scrapeC:
			db.scrape(ctx, sc)
		case <-replayC:
		}
	}
}

// scrape stores one gather of the self-metrics, plus up: 1 on success, 0
// when the gather fails, as a failed Prometheus scrape.
func (db *DB) scrape(ctx context.Context, sc *scraper) {
	ts := time.Now().UnixMilli()
	samples, err := sc.scrape(ts)
	up := 1.0
	if err != nil {
		up = 0
		if msg := err.Error(); msg != sc.lastErr {
			db.logger.Warn("Gathering self-metrics failed", "err", err)
			sc.lastErr = msg
		}
	} else if sc.lastErr != "" {
		db.logger.Info("Gathering self-metrics works again")
		sc.lastErr = ""
	}
	samples = append(samples, promql.Sample{T: ts, F: up, Metric: sc.up})
	db.store(ctx, "self-metrics", samples)
}

// store appends samples fed by Run, logging a failure.
func (db *DB) store(ctx context.Context, what string, samples []promql.Sample) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return
	}
	if err := db.appendSamples(ctx, samples); err != nil && !errors.Is(err, context.Canceled) {
		db.logger.Warn("Storing samples failed", "what", what, "err", err)
	}
}

// replay hands out the values of the series files as their time comes.
type replay struct {
	series []replaySeries
}

// replaySeries is one series being replayed.
type replaySeries struct {
	labels   labels.Labels
	values   []parser.SequenceValue
	start    int64 // time of value 0, in ms
	interval int64 // in ms
	next     int   // index of the next value to hand out
}

// newReplay starts replaying files at start (Unix ms).
func newReplay(files []*SeriesFile, start int64) *replay {
	r := &replay{}
	for _, f := range files {
		for _, s := range f.Series {
			r.series = append(r.series, replaySeries{
				labels:   s.Labels,
				values:   s.Values,
				start:    start,
				interval: f.Interval.Milliseconds(),
			})
		}
	}
	return r
}

// due returns the samples whose time is at or before now (Unix ms) and that
// were not handed out yet, in time order within each series. Omitted values
// are skipped.
func (r *replay) due(now int64) []promql.Sample {
	var out []promql.Sample
	for i := range r.series {
		s := &r.series[i]
		for ; s.next < len(s.values); s.next++ {
			t := s.start + int64(s.next)*s.interval
			if t > now {
				break
			}
			v := s.values[s.next]
			if v.Omitted {
				continue
			}
			smp := promql.Sample{Metric: s.labels, T: t, F: v.Value}
			if v.Histogram != nil {
				// The parser repeats one pointer for hxN; give the TSDB a
				// histogram of its own.
				smp.H = v.Histogram.Copy()
			}
			out = append(out, smp)
		}
	}
	return out
}

// next returns the time (Unix ms) of the earliest value not handed out
// yet, and false once every series is done.
func (r *replay) next() (int64, bool) {
	var (
		min int64
		ok  bool
	)
	for i := range r.series {
		s := &r.series[i]
		if s.next >= len(s.values) {
			continue
		}
		if t := s.start + int64(s.next)*s.interval; !ok || t < min {
			min, ok = t, true
		}
	}
	return min, ok
}
