package dispatch

import (
	"time"

	"github.com/prometheus/common/model"
)

// Clock tells the time and runs functions later: the real clock by
// default, a simulated one when routing is replayed over past time (the
// backtest runs this Dispatcher, not a copy of it).
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a simulated clock,
	// when the simulation reaches the time) d from now.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer that AfterFunc made.
type Timer interface {
	Reset(d time.Duration) bool
	Stop() bool
}

// realClock is the wall clock, with an optional replacement of Now.
type realClock struct{ now func() time.Time }

func (c realClock) Now() time.Time { return c.now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// MutedFlush is a flush whose alerts were all muted, for Options.OnMuted.
type MutedFlush struct {
	GroupKey    string
	GroupLabels model.LabelSet
	Receiver    string
	Alerts      []*Alert
	Now         time.Time
	// Reason is "time interval", "silenced", "inhibited" or "silenced and
	// inhibited".
	Reason string
	// PrevFlush is the group's flush before this one (zero for its
	// first), so that consecutive muted flushes can be told apart.
	PrevFlush time.Time
}
