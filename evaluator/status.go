package evaluator

import (
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

// ruleStatus is the health and recent history of a rule. The group's
// goroutines write it; readers take copies.
type ruleStatus struct {
	mu       sync.Mutex
	health   Health
	lastErr  string
	last     Evaluation
	history  [historySize]Evaluation
	next     int // index in history of the next record
	recorded int
}

// record stores the outcome of an evaluation and returns the previous
// error, so that the caller logs only when it changes.
func (s *ruleStatus) record(e Evaluation) (prevErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prevErr = s.lastErr
	s.lastErr = e.Err
	s.health = HealthOK
	if e.Err != "" {
		s.health = HealthErr
	}
	s.last = e
	s.history[s.next] = e
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
		hist = append(hist, s.history[(s.next-i+historySize)%historySize])
	}
	return h, s.lastErr, s.last, hist
}
