package dispatch

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"
)

// notify runs one flush of ag through the pipeline: time intervals,
// inhibition and silences, then for each integration of the receiver,
// concurrently, the dedup decision, delivery with retries, and the
// notification log. It reports whether every integration succeeded (or had
// nothing to do), which lets the group drop the resolved alerts.
func (d *Dispatcher) notify(ctx context.Context, ag *aggrGroup, alerts []*Alert, now time.Time) bool {
	r := ag.route
	ev := d.newEvents(ag, now, true)
	defer ev.record(ctx)
	if names, ok := d.timeMuted(r, now); ok {
		for _, a := range alerts {
			ev.add(a, Event{Kind: EventMuted, Intervals: names}, nil)
		}
		d.muted(ag, alerts, now, "time interval")
		return true
	}
	kept := make([]*Alert, 0, len(alerts))
	firing := make([]uint64, 0, len(alerts))
	var resolved []uint64
	silenced, inhibited := 0, 0
	for _, a := range alerts {
		if src, ok := d.inhibitor.Inhibited(a.Labels, now); ok {
			inhibited++
			ev.add(a, Event{Kind: EventInhibited, Inhibitor: src.String()}, nil)
			continue
		}
		if d.silencer != nil {
			if ids := d.silencer.Mutes(a.Labels); len(ids) > 0 {
				silenced++
				ev.add(a, Event{Kind: EventSilenced, Silences: ids}, nil)
				continue
			}
		}
		kept = append(kept, a)
		if a.ResolvedAt(now) {
			resolved = append(resolved, uint64(a.fp))
		} else {
			firing = append(firing, uint64(a.fp))
		}
	}
	if len(kept) == 0 {
		// Everything is muted: as in Alertmanager, no dedup decision and
		// no log entry, so that the end of a silence does not notify
		// again within repeat_interval.
		d.muted(ag, alerts, now, mutedReason(silenced, inhibited))
		return true
	}
	slices.Sort(firing)
	slices.Sort(resolved)
	fs := &flushSet{alerts: kept, firing: firing, resolved: resolved, muted: silenced + inhibited, now: now}

	integrations := d.receivers[r.Opts.Receiver]
	if len(integrations) == 0 {
		// A receiver without integrations drops its alerts, as in
		// Alertmanager: worth a line in their timelines.
		for _, a := range kept {
			ev.add(a, Event{Kind: EventDropped}, nil)
		}
		return true
	}
	if len(integrations) == 1 {
		return d.notifyIntegration(ctx, ag, integrations[0], fs)
	}
	var wg sync.WaitGroup
	ok := make([]bool, len(integrations))
	for i, in := range integrations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok[i] = d.notifyIntegration(ctx, ag, in, fs)
		}()
	}
	wg.Wait()
	return !slices.Contains(ok, false)
}

// timeMuted applies the route's mute_time_intervals and
// active_time_intervals at now. It returns the intervals that mute: the
// mute_time_intervals in force, or the active_time_intervals (all outside
// their times).
func (d *Dispatcher) timeMuted(r *Route, now time.Time) ([]string, bool) {
	if d.intervals == nil {
		return nil, false
	}
	if len(r.Opts.MuteTimeIntervals) > 0 {
		if muted, names, err := d.intervals.Mutes(r.Opts.MuteTimeIntervals, now); err == nil && muted {
			return names, true
		}
	}
	if len(r.Opts.ActiveTimeIntervals) > 0 {
		if active, err := d.intervals.ContainsTime(r.Opts.ActiveTimeIntervals, now); err == nil && !active {
			return r.Opts.ActiveTimeIntervals, true
		}
	}
	return nil, false
}

// logKey is the notification log key of one integration for one group:
// unique per route (the group key holds the route's key), receiver and
// integration.
func logKey(ag *aggrGroup, receiver string, in Integration) string {
	return ag.key + " " + receiver + "/" + in.Kind + "/" + strconv.Itoa(in.Index)
}

// flushSet is what a flush sends once muting is done: the kept alerts (in
// Alertmanager's order), their firing and resolved fingerprints (sorted),
// and how many alerts were muted.
type flushSet struct {
	alerts           []*Alert
	firing, resolved []uint64
	muted            int
	now              time.Time
}

// muted tells Options.OnMuted of a flush whose alerts were all muted.
func (d *Dispatcher) muted(ag *aggrGroup, alerts []*Alert, now time.Time, reason string) {
	if d.onMuted != nil {
		d.onMuted(MutedFlush{GroupKey: ag.key, GroupLabels: ag.labels, Receiver: ag.route.Opts.Receiver, Alerts: alerts,
			Now: now, Reason: reason, PrevFlush: ag.prevFlush})
	}
}

func mutedReason(silenced, inhibited int) string {
	switch {
	case silenced > 0 && inhibited > 0:
		return "silenced and inhibited"
	case silenced > 0:
		return "silenced"
	default:
		return "inhibited"
	}
}

func (d *Dispatcher) notifyIntegration(ctx context.Context, ag *aggrGroup, in Integration, fs *flushSet) bool {
	now := fs.now
	receiver := ag.route.Opts.Receiver
	key := logKey(ag, receiver, in)
	expiry := 2 * ag.route.Opts.RepeatInterval
	prev := d.log.Get(key)
	var hc *heldClaim
	if d.log.shared != nil {
		// Replicas share the log. This replica's view of it (its own
		// entries, and the others' read every half second) says whether
		// a notification is owed: most flushes have nothing to send, and
		// read or write nothing. One that is owed is claimed, and decided
		// again on the entry as the database holds it.
		nothingDue := func(e *LogEntry) bool {
			return !staleView(e, fs) && needsUpdate(e, fs.firing, fs.resolved, in.SendResolved, ag.route.Opts.RepeatInterval, now) == NoNotification
		}
		if staleView(prev, fs) {
			return false
		}
		if needsUpdate(prev, fs.firing, fs.resolved, in.SendResolved, ag.route.Opts.RepeatInterval, now) == NoNotification {
			ag.clearOwed(key)
			d.deduplicated(ctx, ag, in, fs, prev)
			return true
		}
		backup := !d.log.prefers(ag.key)
		if backup {
			// Another replica sends. This one claims the notification
			// only once it has been owed for the backstop delay; until
			// then the group keeps its resolved alerts (false).
			owed := ag.owedFor(key, now)
			if owed < d.log.shared.opts.Backstop {
				return false
			}
			d.log.shared.metrics.backstops.Inc()
			d.logger.Debug("Notification still owed after the backstop delay: the group's preferred replica did not send it; this replica claims it",
				"key", key, "owed_for", owed)
		}
		// The send gets a flush's time from when the claim is won, not
		// what the wait for the database left of it (a send cut short
		// after the receiver took it is sent again by the next claimant);
		// a reload or shutdown still ends it, and so does the lease.
		sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
		defer cancelSend()
		stopSend := context.AfterFunc(d.ctx, cancelSend)
		defer stopSend()
		sendTime := max(ag.route.Opts.GroupInterval, d.minFlushTimeout)
		var ok bool
		if hc, prev, ok = d.log.claim(ctx, key, expiry, now, nothingDue, !backup, sendCtx, sendTime); !ok {
			if backup {
				// Another replica is sending it: count again.
				ag.clearOwed(key)
			}
			return false
		}
		if hc == nil {
			return true // another replica sent it meanwhile
		}
		ctx = hc.ctx
	}
	confirmed := false
	defer func() {
		if hc != nil && hc.end(confirmed) {
			d.logger.Warn("A notification was stopped: its claim could not be renewed before its lease ran out",
				"receiver", receiver, "integration", in.Kind, "group", ag.key)
		}
	}()
	if hc != nil && staleView(prev, fs) {
		d.logger.Debug("Notification left to a later flush: this replica's view of the group is older than the last notification's",
			"key", key)
		return false
	}
	alerts, firing, resolved := fs.alerts, fs.firing, fs.resolved
	reason := needsUpdate(prev, firing, resolved, in.SendResolved, ag.route.Opts.RepeatInterval, now)
	if hc != nil {
		d.logger.Debug("Notification claimed", "key", key, "claim", hc.owner, "reason", reason.String(),
			"firing", len(firing), "resolved", len(resolved), "logged", prev != nil)
	}
	if reason == NoNotification {
		d.deduplicated(ctx, ag, in, fs, prev)
		return true
	}
	send := alerts
	if !in.SendResolved {
		send = make([]*Alert, 0, len(firing))
		for _, a := range alerts {
			if !a.ResolvedAt(now) {
				send = append(send, a)
			}
		}
	}
	if len(send) > 0 {
		d.intend(ctx, ag, key, in, prev, firing, now)
		b := &Batch{
			GroupKey: ag.key, GroupLabels: ag.labels, Receiver: receiver, RouteKey: ag.route.Key,
			Alerts: send, Now: now, Reason: reason, Muted: fs.muted,
		}
		start := time.Now()
		attempts, err := d.deliver(ctx, in, b)
		d.delivered(ctx, ag, in, b, attempts, err)
		if hc != nil && hc.stopRenewing() && err == nil {
			// Sent, though the lease may have run out at the end: the
			// confirmation below still records it.
			d.logger.Warn("A notification was sent as its claim's lease was running out; another replica may send it too",
				"receiver", receiver, "integration", in.Kind, "group", ag.key)
		}
		d.metrics.observeNotification(receiver, in.Kind, time.Since(start), err)
		d.noteOutcome(ag, receiver, in, err)
		if err != nil {
			return false
		}
	}
	// The record of a delivery that happened must not depend on the
	// delivery's deadline, nor on a reload that cancels the flush.
	logCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logTimeout)
	defer cancel()
	owner := ""
	if hc != nil {
		owner = hc.owner
	}
	var vs []int64
	if hc != nil {
		vs = versions(fs, firing, resolved)
	}
	err := d.log.confirm(logCtx, key, owner, firing, resolved, vs, now, expiry)
	// A shared database that restarts is back within seconds: the
	// confirmation is retried meanwhile, or another replica would send
	// the notification again once the claim's lease runs out.
	for hc != nil && err != nil && pause(logCtx, confirmRetry) {
		err = d.log.confirm(logCtx, key, owner, firing, resolved, vs, now, expiry)
	}
	if err != nil {
		// Sent, but not recorded: the next flush may send it again.
		d.logger.Error("Notification sent but not recorded; it may be sent again",
			"receiver", receiver, "integration", in.Kind, "group", ag.key, "err", err)
		return false
	}
	confirmed = true
	return true
}

// staleView reports whether this replica's view of the flush's alerts is
// older than the shared log's last notification: an alert whose state
// there differs from its state here, in a version (update time) later
// than this replica's. Another replica learned of a change first (an
// end, or a new start), and this one learns of it within seconds, from
// the database; deciding on its older view would notify the alert back
// into its previous state. The flush is left to a later one.
func staleView(prev *LogEntry, fs *flushSet) bool {
	if prev == nil || len(prev.Versions) != len(prev.Firing)+len(prev.Resolved) {
		return false
	}
	for _, a := range fs.alerts {
		fp := uint64(a.fp)
		var v int64
		if i, ok := slices.BinarySearch(prev.Firing, fp); ok && a.ResolvedAt(fs.now) {
			v = prev.Versions[i]
		} else if i, ok := slices.BinarySearch(prev.Resolved, fp); ok && !a.ResolvedAt(fs.now) {
			v = prev.Versions[len(prev.Firing)+i]
		} else {
			continue
		}
		if v > a.UpdatedAt.UnixNano() {
			return true
		}
	}
	return false
}

// versions returns the update times of the alerts of fs whose
// fingerprints are firing, then resolved, for the log.
func versions(fs *flushSet, firing, resolved []uint64) []int64 {
	at := make(map[uint64]int64, len(fs.alerts))
	for _, a := range fs.alerts {
		at[uint64(a.fp)] = a.UpdatedAt.UnixNano()
	}
	out := make([]int64, 0, len(firing)+len(resolved))
	for _, fp := range firing {
		out = append(out, at[fp])
	}
	for _, fp := range resolved {
		out = append(out, at[fp])
	}
	return out
}

// logTimeout bounds the write of a notification log entry; a shared log's
// confirmation is tried every confirmRetry until then.
const (
	logTimeout   = 10 * time.Second
	confirmRetry = 250 * time.Millisecond
)

// pause waits d, and reports false if ctx ended first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// intend records, before a notification with firing alerts is sent, that
// the receiver may learn of them (NotificationLog.Intend), unless the entry
// says so already. A failed write is logged and the notification is sent
// all the same: a page is worth more than the record of it.
func (d *Dispatcher) intend(ctx context.Context, ag *aggrGroup, key string, in Integration, prev *LogEntry, firing []uint64, now time.Time) {
	if len(firing) == 0 || (prev != nil && subset(firing, union(prev.Firing, prev.Pending))) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logTimeout)
	defer cancel()
	if err := d.log.Intend(ctx, key, firing, now, 2*ag.route.Opts.RepeatInterval); err != nil {
		d.logger.Error("Recording a notification before sending it failed; a crash during the send could lose its resolve",
			"receiver", ag.route.Opts.Receiver, "integration", in.Kind+"/"+strconv.Itoa(in.Index), "group", ag.key, "err", err)
	}
}

// Backoff between delivery attempts: exponential from retryBase, capped
// at retryMax, with full jitter.
const (
	retryBase = 500 * time.Millisecond
	retryMax  = 30 * time.Second
)

// deliver tries in.Notifier until it succeeds, fails for good, or the
// flush deadline passes. It returns how many attempts it made.
func (d *Dispatcher) deliver(ctx context.Context, in Integration, b *Batch) (int, error) {
	wait := retryBase
	for attempt := 1; ; attempt++ {
		start := time.Now()
		retry, err := in.Notifier.Notify(ctx, b)
		d.record(ctx, in, b, attempt, start, err)
		if err == nil {
			return attempt, nil
		}
		if !retry {
			return attempt, fmt.Errorf("attempt %d (not retried): %w", attempt, err)
		}
		pause := wait/2 + rand.N(wait/2+1)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < pause {
			return attempt, fmt.Errorf("attempt %d, giving up before the flush deadline: %w", attempt, err)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, fmt.Errorf("attempt %d: %w", attempt, err)
		case <-t.C:
		}
		wait = min(2*wait, retryMax)
	}
}

// record hands one attempt to the history.
func (d *Dispatcher) record(ctx context.Context, in Integration, b *Batch, attempt int, start time.Time, err error) {
	if d.history == nil {
		return
	}
	a := Attempt{
		At: start, Duration: time.Since(start), Receiver: b.Receiver,
		Integration: in.Kind + "/" + strconv.Itoa(in.Index), GroupKey: b.GroupKey,
		Status: batchStatus(b), Alerts: batchLabels(b), Attempt: attempt,
	}
	if err != nil {
		a.Err, a.Reason = err.Error(), FailureReason(err)
	}
	d.history.Record(context.WithoutCancel(ctx), a)
}

// noteOutcome logs a delivery failure when its class (FailureReason) differs
// from the last one of the same integration, and the recovery after one. A
// dead receiver fails for every group at every flush with a different
// text each time; the log gets one line when it starts failing, one when
// the kind of failure changes, and one when it works again. The history
// and alerter_notifications_failed_total keep every attempt.
func (d *Dispatcher) noteOutcome(ag *aggrGroup, receiver string, in Integration, err error) {
	integration := in.Kind + "/" + strconv.Itoa(in.Index)
	if err != nil && d.ctx.Err() != nil {
		// A reload or shutdown cut the delivery short: not a failure of
		// the receiver.
		d.logger.Debug("Notification cancelled by a reload or shutdown", "receiver", receiver, "integration", integration, "err", err)
		return
	}
	class := FailureReason(err)
	key := receiver + "/" + integration
	d.failMu.Lock()
	last, had := d.failures[key]
	if class == "" {
		delete(d.failures, key)
	} else {
		d.failures[key] = class
	}
	d.failMu.Unlock()
	switch {
	case err != nil && class != last:
		d.logger.Warn("Notification failed; further failures of this kind are counted, not logged",
			"receiver", receiver, "integration", integration, "reason", class, "group", ag.key, "err", err)
	case err == nil && had:
		d.logger.Info("Notification delivered again after failures", "receiver", receiver, "integration", integration)
	}
}
