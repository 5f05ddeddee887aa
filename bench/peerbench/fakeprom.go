package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// fakeProm answers Prometheus' instant-query API from the query text, the
// same way for every evaluator: a query bench_metric{rule="N",series="K"}
// gets K series with value 1. It counts the queries, and records per rule
// the times between its queries: a gap over 1.5 intervals is late.
type fakeProm struct {
	latency time.Duration

	mu       sync.Mutex
	interval time.Duration
	counting bool
	queries  int
	late     int
	last     map[int]time.Time
}

var (
	ruleRe   = regexp.MustCompile(`rule="(\d+)"`)
	seriesRe = regexp.MustCompile(`series="(\d+)"`)
)

func newFakeProm(latency time.Duration) *fakeProm {
	return &fakeProm{latency: latency, last: map[int]time.Time{}}
}

// count starts counting queries and late gaps afresh.
func (f *fakeProm) count(interval time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.interval, f.counting, f.queries, f.late = interval, true, 0, 0
}

// stats returns the queries and the late gaps since count.
func (f *fakeProm) stats() (queries, late int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries, f.late
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.FormValue("query")
	rule, series := -1, 0
	if m := ruleRe.FindStringSubmatch(q); m != nil {
		rule, _ = strconv.Atoi(m[1])
	}
	if m := seriesRe.FindStringSubmatch(q); m != nil {
		series, _ = strconv.Atoi(m[1])
	}
	now := time.Now()
	f.mu.Lock()
	if rule >= 0 {
		if prev, ok := f.last[rule]; ok && f.counting && now.Sub(prev) > f.interval*3/2 {
			f.late++
		}
		f.last[rule] = now
	}
	if f.counting {
		f.queries++
	}
	f.mu.Unlock()
	if f.latency > 0 {
		time.Sleep(f.latency)
	}
	ts := strconv.FormatFloat(float64(now.UnixMilli())/1000, 'f', 3, 64)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[`)
	for i := range series {
		if i > 0 {
			fmt.Fprint(w, ",")
		}
		fmt.Fprintf(w, `{"metric":{"__name__":"bench_metric","rule":"%d","instance":"i-%d"},"value":[%s,"1"]}`, rule, i, ts)
	}
	fmt.Fprint(w, `]}}`)
}
