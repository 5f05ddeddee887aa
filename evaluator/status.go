package evaluator

import (
	"math"
	"sync"
	"time"
)

// Health is a rule's health, as in Prometheus' API.
type Health string

// The health values.
const (
	HealthUnknown Health = "unknown"
	HealthOK      Health = "ok"
	HealthErr     Health = "err"
)

// historySize is how many evaluations of a rule are remembered.
const historySize = 20

// Evaluation is the record of one evaluation of a rule.
type Evaluation struct {
	Time     time.Time
	Duration time.Duration
	// Samples is the size of the result.
	Samples int
	Err     string
}

// record is an Evaluation stored compactly: with 10,000 rules the history
// is 200,000 of them.
type record struct {
	unixNano int64
	micros   uint32 // duration, capped at about 71 minutes
	samples  uint32
	err      string
}

func compact(e Evaluation) record {
	return record{
		unixNano: e.Time.UnixNano(),
		micros:   uint32(min(e.Duration.Microseconds(), math.MaxUint32)),
		samples:  uint32(min(e.Samples, math.MaxUint32)),
		err:      e.Err,
	}
}

func (r record) expand() Evaluation {
	return Evaluation{
		Time:     time.Unix(0, r.unixNano).UTC(),
		Duration: time.Duration(r.micros) * time.Microsecond,
		Samples:  int(r.samples),
		Err:      r.err,
	}
}

// ruleStatus is the health and recent history of a rule. The group's
// goroutines write it; readers take copies.
type ruleStatus struct {
	mu       sync.Mutex
	health   Health
	lastErr  string
	last     Evaluation
	history  [historySize]record
	next     int // index in history of the next record
	recorded int
}

// record stores the outcome of an evaluation and returns the previous
// error, so that the caller logs only when it changes.
func (s *ruleStatus) record(e Evaluation) (prevErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prevErr = s.lastErr
	if e.Err == prevErr {
		e.Err = prevErr // share one copy of a repeated error in the history
	}
	s.lastErr = e.Err
	s.health = HealthOK
	if e.Err != "" {
		s.health = HealthErr
	}
	s.last = e
	s.history[s.next] = compact(e)
	s.next = (s.next + 1) % historySize
	s.recorded = min(s.recorded+1, historySize)
	return prevErr
}

// notEvaluated marks a rule that cannot be evaluated, with the reason.
func (s *ruleStatus) notEvaluated(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health = HealthUnknown
	s.lastErr = reason
}

// copyFrom takes over another status (the same rule before a reload).
func (s *ruleStatus) copyFrom(o *ruleStatus) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health, s.lastErr, s.last = o.health, o.lastErr, o.last
	s.history, s.next, s.recorded = o.history, o.next, o.recorded
}

// snapshot returns the health, last error, last evaluation and the
// history, newest first.
func (s *ruleStatus) snapshot() (Health, string, Evaluation, []Evaluation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.health
	if h == "" {
		h = HealthUnknown
	}
	hist := make([]Evaluation, 0, s.recorded)
	for i := 1; i <= s.recorded; i++ {
		hist = append(hist, s.history[(s.next-i+historySize)%historySize].expand())
	}
	return h, s.lastErr, s.last, hist
}
