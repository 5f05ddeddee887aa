package backtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// benchSource answers `m{rule="i"} > 0` with 10 series (instances), each
// present in one window of 10 to 49 minutes every 6 hours, at offsets that
// differ by rule and instance, as a range query computes it.
type benchSource struct{ labels [][]labels.Labels }

func newBenchSource(rules, instances int) *benchSource {
	s := &benchSource{labels: make([][]labels.Labels, rules)}
	for i := range rules {
		for j := range instances {
			s.labels[i] = append(s.labels[i], labels.FromStrings("__name__", "m", "rule", strconv.Itoa(i), "instance", "host-"+strconv.Itoa(j)))
		}
	}
	return s
}

func (s *benchSource) present(i, j int, t time.Time) bool {
	const period = 6 * time.Hour
	off := time.Duration((i*37+j*11)%360) * time.Minute
	dur := time.Duration(10+(i+j)%40) * time.Minute
	p := (t.Sub(t0) - off) % period
	if p < 0 {
		p += period
	}
	return p < dur
}

func (s *benchSource) rule(expr string) int {
	i, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(expr, `m{rule="`), `"} > 0`))
	return i
}

func (s *benchSource) Query(_ context.Context, expr string, ts time.Time) (promql.Vector, error) {
	i := s.rule(expr)
	var vec promql.Vector
	for j, l := range s.labels[i] {
		if s.present(i, j, ts) {
			vec = append(vec, promql.Sample{Metric: l, T: ts.UnixMilli(), F: 1})
		}
	}
	return vec, nil
}

func (s *benchSource) QueryRange(_ context.Context, expr string, start, end time.Time, step time.Duration) (promql.Matrix, error) {
	i := s.rule(expr)
	var m promql.Matrix
	for j, l := range s.labels[i] {
		ser := promql.Series{Metric: l}
		for ts := start; !ts.After(end); ts = ts.Add(step) {
			if s.present(i, j, ts) {
				ser.Floats = append(ser.Floats, promql.FPoint{T: ts.UnixMilli(), F: 1})
			}
		}
		if len(ser.Floats) > 0 {
			m = append(m, ser)
		}
	}
	return m, nil
}

// benchRules is 100 alerting rules in 10 groups, each `for: 5m` with a
// templated annotation.
func benchRules(rules int) string {
	var b strings.Builder
	b.WriteString("groups:\n")
	for i := range rules {
		if i%10 == 0 {
			fmt.Fprintf(&b, "- name: g%d\n  rules:\n", i/10)
		}
		fmt.Fprintf(&b, "  - alert: Rule%d\n    expr: 'm{rule=\"%d\"} > 0'\n    for: 5m\n    labels: {severity: page}\n"+
			"    annotations: {summary: '{{ $labels.instance }} is at {{ $value }}'}\n", i, i)
	}
	return b.String()
}

// BenchmarkBacktest100Rules7Days backtests 100 rules (10 series each)
// over 7 days at a 1-minute step: 1,008,100 evaluations, routed by
// alertname to a webhook, and the report written as JSON. It reports the peak Go heap during the run and
// the process' peak RSS (VmHWM, which includes the test binary).
func BenchmarkBacktest100Rules7Days(b *testing.B) {
	const rules = 100
	src := newBenchSource(rules, 10)
	opts := testOptions(b, benchRules(rules), routingYAML, src, 0, 7*24*time.Hour)
	var peak atomic.Uint64
	stop := samplePeakHeap(&peak)
	defer stop()
	b.ReportAllocs()
	var rep *Report
	for b.Loop() {
		var err error
		if rep, err = Run(context.Background(), opts); err != nil {
			b.Fatal(err)
		}
		if err := WriteJSON(io.Discard, rep); err != nil {
			b.Fatal(err)
		}
	}
	notifications := 0
	for _, r := range rep.Receivers {
		notifications += len(r.Notifications)
	}
	b.ReportMetric(float64(rep.Evaluations), "evaluations/op")
	b.ReportMetric(float64(notifications), "notifications/op")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	if hwm := vmHWM(); hwm > 0 {
		b.ReportMetric(float64(hwm)/(1<<10), "peak-RSS-MiB")
	}
}

// samplePeakHeap records the largest live heap (objects) every 2ms until
// the returned func is called.
func samplePeakHeap(peak *atomic.Uint64) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	runtime.GC()
	go func() {
		defer close(stopped)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// vmHWM returns the process' peak resident set in KiB, or 0.
func vmHWM() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
