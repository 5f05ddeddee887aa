package dispatch

import (
	"time"

	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/common/model"
)

// The functions in this file expose the Dispatcher's decisions one by one,
// for callers that replay routing in simulated time instead of running
// aggregation groups on timers (the backtest): they take the time as an
// argument and send nothing.

// NeedsUpdate is the notification log's dedup decision that a flush makes
// for each integration: whether an integration whose last log entry is prev
// must be notified about the firing and resolved alerts (sorted
// fingerprints) at now, and why.
func NeedsUpdate(prev *LogEntry, firing, resolved []uint64, sendResolved bool, repeat time.Duration, now time.Time) NotifyReason {
	return needsUpdate(prev, firing, resolved, sendResolved, repeat, now)
}

// Observe records a received alert (one that went through Store.Put, so
// that its fingerprint is set) as a possible inhibition source, as the
// Dispatcher does with every alert it receives.
func (ih *Inhibitor) Observe(a *Alert) { ih.observe(a) }

// Forget drops an alert that the Store dropped from the inhibition
// sources.
func (ih *Inhibitor) Forget(a *Alert) { ih.forget(a) }

// TimeMuted reports whether r's mute_time_intervals or
// active_time_intervals mute its notifications at now; nil intervals mute
// nothing.
func TimeMuted(intervals *timeinterval.Intervener, r *Route, now time.Time) bool {
	if intervals == nil {
		return false
	}
	if len(r.Opts.MuteTimeIntervals) > 0 {
		if muted, _, err := intervals.Mutes(r.Opts.MuteTimeIntervals, now); err == nil && muted {
			return true
		}
	}
	if len(r.Opts.ActiveTimeIntervals) > 0 {
		if active, err := intervals.ContainsTime(r.Opts.ActiveTimeIntervals, now); err == nil && !active {
			return true
		}
	}
	return false
}

// GroupKey returns the key of the aggregation group of route r for alerts
// with the group labels groupLabels (see Route.GroupLabels): unique per
// route and labels, as notifications and the notification log carry it.
func GroupKey(r *Route, groupLabels model.LabelSet) string {
	return r.Key + ":" + groupLabels.String()
}
