// Package embedded is alerter's built-in datasource: Prometheus' own PromQL
// engine over a local Prometheus TSDB, so that alerter can evaluate its rules
// on a machine with nothing else installed.
//
// The store is fed three ways:
//
//   - alerter's own metrics, gathered from a prometheus.Gatherer every
//     ScrapeInterval and stored as a Prometheus scrape would store them
//     (text exposition format, SelfLabels added as target labels, conflicting
//     exposed labels renamed exported_<name>, plus up{SelfLabels});
//   - series files, replayed on the clock from the moment Run starts;
//   - Append, used by the evaluator for recording rules and the ALERTS
//     series.
//
// # Series files
//
// A series file reuses the input_series notation of promtool's rule unit
// tests, so that series can be copied from a test file:
//
//	# time between two values of each series (default 15s)
//	interval: 15s
//	input_series:
//	  - series: 'http_requests_total{job="web", code="500"}'
//	    values: '0+10x100 1000+0x20 _x3 stale'
//	  - series: 'temperature{room="lab"}'
//	    values: '20 21 22 _ 23'
//
// Value i of a series belongs at start + i*interval, where start is the
// moment Run starts (rounded down to a millisecond). The notation is the
// PromQL series description: a+bxn is n+1 values starting at a and growing by
// b, axn is a repeated n+1 times, _ is a missing value (_xn: n of them),
// stale is a staleness marker, and {{schema:0 sum:5 count:4 buckets:[1 2 1]}}
// is a native histogram. Values are appended only once the clock reaches
// their time, never ahead: after its last value a series simply ends, and
// disappears from queries 5 minutes later. Unknown fields, bad series, and
// one file holding more than a million values are errors that name the file
// and the line.
//
// # Lifecycle
//
// Open opens the store and validates the series files; Query and Append work
// from then on. Run feeds the store until its context ends, and Close, called
// after Run has returned, closes the store. The TSDB's write-ahead log makes
// the data survive a crash; reopening the same directory finds it again.
// tsdb.Open runs the TSDB's own background compaction goroutine, which
// Close stops: that is the one goroutine Open starts.
package embedded
