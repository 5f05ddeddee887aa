package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sink receives what the targets send: Alertmanager's webhook notifications
// on /hook, and alerts as an Alertmanager receives them (from vmalert) on
// /api/v2/alerts. For each alert it keeps the first arrival and, from the
// annotation bench_sent (Unix nanoseconds, set by the load generator), the
// time from the POST to its delivery.
type sink struct {
	mu            sync.Mutex
	notifications int
	posted        int // alerts received on /api/v2/alerts
	delivered     map[string]bool
	latencies     []time.Duration
	sets          map[string]int // notifications by group key and firing alerts
	changed       chan struct{}
}

func newSink() *sink {
	return &sink{delivered: map[string]bool{}, sets: map[string]int{}, changed: make(chan struct{}, 1)}
}

type webhookMessage struct {
	GroupKey string `json:"groupKey"`
	Alerts   []struct {
		Status      string            `json:"status"`
		Fingerprint string            `json:"fingerprint"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if r.URL.Path == "/api/v2/alerts" {
		var alerts []json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&alerts); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.posted += len(alerts)
		s.mu.Unlock()
		return
	}
	var m webhookMessage
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var firing []string
	for _, a := range m.Alerts {
		if a.Status == "firing" {
			firing = append(firing, a.Fingerprint)
		}
	}
	slices.Sort(firing)
	s.mu.Lock()
	s.notifications++
	s.sets[m.GroupKey+" "+strings.Join(firing, ",")]++
	for _, a := range m.Alerts {
		if s.delivered[a.Fingerprint] {
			continue
		}
		s.delivered[a.Fingerprint] = true
		if ns, err := strconv.ParseInt(a.Annotations["bench_sent"], 10, 64); err == nil {
			s.latencies = append(s.latencies, now.Sub(time.Unix(0, ns)))
		}
	}
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// waitDelivered waits until want alerts were delivered or d passed, and
// returns how many were.
func (s *sink) waitDelivered(want int, d time.Duration) int {
	deadline := time.After(d)
	for {
		s.mu.Lock()
		n := len(s.delivered)
		s.mu.Unlock()
		if n >= want {
			return n
		}
		select {
		case <-s.changed:
		case <-deadline:
			return n
		}
	}
}

// latency returns the p-th percentile (0..100) of the delivery latencies.
func (s *sink) latency(p float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.latencies) == 0 {
		return 0
	}
	l := slices.Clone(s.latencies)
	slices.Sort(l)
	return l[min(len(l)-1, int(p/100*float64(len(l))))]
}

// duplicates counts the notifications of a group that repeated an earlier
// one's firing alerts.
func (s *sink) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.sets {
		n += c - 1
	}
	return n
}

func (s *sink) counts() (notifications, posted, delivered int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notifications, s.posted, len(s.delivered)
}
