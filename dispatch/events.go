package dispatch

import (
	"context"
	"hash/fnv"
	"io"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
)

// Kinds of Event. The evaluation kinds come from the rules; the others
// from the dispatcher, per alert and receiver (and integration, once a
// flush reaches one).
const (
	EventPending  = "pending"  // a rule's expression returned the alert; its `for` runs
	EventFiring   = "firing"   // the alert fires
	EventInactive = "inactive" // the rule no longer returns it: resolved (or a pending alert that never fired)

	// EventRouted is not recorded: a timeline shows it before the first
	// event of each group the alert is in (the routing tree put it there).
	EventRouted       = "routed"
	EventSent         = "sent"         // a notification carrying the alert was delivered
	EventFailed       = "failed"       // a notification carrying it failed for good (Error; retries folded into Attempts)
	EventDeduplicated = "deduplicated" // a flush sent nothing: the receiver had been told already
	EventMuted        = "muted"        // a time interval of the route muted the flush (Intervals)
	EventSilenced     = "silenced"     // silences muted the alert (Silences)
	EventInhibited    = "inhibited"    // another alert inhibited it (Inhibitor)
	EventDropped      = "dropped"      // the receiver has no integrations: nothing is sent
)

// Event is one thing that happened to an alert on its way from its rule
// to its receivers: the timeline of an alert answers "why was I (not)
// paged?" with them.
type Event struct {
	At          time.Time
	Fingerprint model.Fingerprint
	// Labels are the alert's; a recorder keeps them once per alert.
	Labels model.LabelSet
	Kind   string
	// GroupKey, Receiver and Integration ("webhook/0") say where: empty
	// for evaluation events, Integration empty for what muted a whole
	// flush of the receiver.
	GroupKey, Receiver, Integration string

	Rule  string `json:"rule,omitempty"`  // evaluation events: the group and rule, "group/Name"
	Value string `json:"value,omitempty"` // evaluation events: the expression's value
	// Status is what a notification said of the alert: firing or resolved.
	Status    string   `json:"status,omitempty"`
	Attempts  int      `json:"attempts,omitempty"`
	Error     string   `json:"error,omitempty"`
	Reason    string   `json:"reason,omitempty"` // a failure's class (FailureReason)
	Silences  []string `json:"silences,omitempty"`
	Inhibitor string   `json:"inhibitor,omitempty"` // the inhibiting alert's fingerprint
	Intervals []string `json:"intervals,omitempty"`
	// SentAt is, for a deduplicated flush, when the receiver was told.
	SentAt time.Time `json:"sentAt,omitzero"`

	// Quiet, if not zero, lets a recorder skip this event when the last
	// one it recorded for the same alert, receiver and integration was the
	// same (Signature) less than Quiet ago: a silenced alert is recorded
	// as silenced once per repeat_interval, not at every flush.
	Quiet time.Duration `json:"-"`
}

// EventRecorder keeps events. Record must not block for long: it is called
// on the delivery path.
type EventRecorder interface {
	RecordEvents(ctx context.Context, events []Event)
}

// events builds the events of a flush for the dispatcher's recorder, if
// it has one.
type events struct {
	d     *Dispatcher
	ag    *aggrGroup
	now   time.Time
	quiet time.Duration
	out   []Event
}

// newEvents returns nil, recording nothing, without a recorder, and for
// what every replica sharing a database decides alike (preferredOnly)
// unless this one is the group's preferred sender: the timeline gets one
// "silenced", not one per replica. What a replica did itself (a send) is
// recorded by that replica.
func (d *Dispatcher) newEvents(ag *aggrGroup, now time.Time, preferredOnly bool) *events {
	if d.events == nil || preferredOnly && !d.log.prefers(ag.key) {
		return nil
	}
	return &events{d: d, ag: ag, now: now, quiet: ag.route.Opts.RepeatInterval}
}

// add appends e, an event of a (and of integration in, if not nil), unless
// it repeats the last one the group recorded for the alert and
// integration less than its quiet time ago: most flushes of a silenced
// or already notified alert cost a map lookup, not an event. A recorder
// applies Quiet again (across reloads, which start new groups).
func (es *events) add(a *Alert, e Event, in *Integration) {
	if es == nil {
		return
	}
	e.At, e.Fingerprint, e.Labels = es.now, a.fp, a.Labels
	e.GroupKey, e.Receiver = es.ag.key, es.ag.route.Opts.Receiver
	if e.Kind != EventSent {
		e.Quiet = es.quiet
	}
	if in != nil {
		e.Integration = in.Kind + "/" + strconv.Itoa(in.Index)
	}
	if !es.ag.loud(a.fp, e.Integration, e.Signature(), es.now, e.Quiet) {
		return
	}
	es.out = append(es.out, e)
}

// record hands the events to the recorder.
func (es *events) record(ctx context.Context) {
	if es == nil || len(es.out) == 0 {
		return
	}
	es.d.events.RecordEvents(context.WithoutCancel(ctx), es.out)
	es.out = nil
}

// quietMark is the last event a group recorded for an alert and
// integration: its signature's hash, and when.
type quietMark struct {
	sig uint64
	at  time.Time
}

// loud reports whether an event with signature sig, of the alert fp and
// integration where, is worth recording at now (not the same as the last
// one, less than quiet ago), and marks it as the last one if so. An event
// of the whole receiver (where "": muted, silenced, inhibited) and one of
// an integration end each other's runs: after a silence, "told already"
// is news again.
func (ag *aggrGroup) loud(fp model.Fingerprint, where string, sig uint64, now time.Time, quiet time.Duration) bool {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	marks := ag.quiet[fp]
	if m, ok := marks[where]; ok && quiet > 0 && m.sig == sig && now.Sub(m.at) < quiet {
		return false
	}
	if marks == nil {
		if ag.quiet == nil {
			ag.quiet = map[model.Fingerprint]map[string]quietMark{}
		}
		marks = map[string]quietMark{}
		ag.quiet[fp] = marks
	}
	for w := range marks {
		if (w == "") != (where == "") {
			delete(marks, w)
		}
	}
	marks[where] = quietMark{sig: sig, at: now}
	return true
}

// Signature hashes what makes two events of an alert, receiver and
// integration the same for Quiet: the kind, group, status, inhibitor,
// failure class, silences and time intervals. A deduplicated flush is the
// same as the notification it deduplicated: "told already" right after
// "sent" says nothing new.
func (e *Event) Signature() uint64 {
	h := fnv.New64a()
	kind := e.Kind
	if kind == EventDeduplicated {
		kind = EventSent
	}
	for _, s := range [...]string{kind, e.GroupKey, e.Status, e.Inhibitor, e.Reason} {
		_, _ = io.WriteString(h, s)
		_, _ = h.Write([]byte{0})
	}
	for _, s := range e.Silences {
		_, _ = io.WriteString(h, s)
		_, _ = h.Write([]byte{0})
	}
	for _, s := range e.Intervals {
		_, _ = io.WriteString(h, s)
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

// deduplicated records that a flush sent the integration nothing: every
// alert kept was notified already (prev says when).
func (d *Dispatcher) deduplicated(ctx context.Context, ag *aggrGroup, in Integration, fs *flushSet, prev *LogEntry) {
	ev := d.newEvents(ag, fs.now, true)
	if ev == nil {
		return
	}
	var sentAt time.Time
	if prev != nil {
		sentAt = prev.SentAt
	}
	for _, a := range fs.alerts {
		if a.ResolvedAt(fs.now) && !in.SendResolved {
			continue
		}
		ev.add(a, Event{Kind: EventDeduplicated, Status: statusAt(a, fs.now), SentAt: sentAt}, &in)
	}
	ev.record(ctx)
}

// delivered records the outcome of a notification for each alert it
// carried. A delivery cut short by a reload or shutdown is not recorded:
// the next dispatcher sends it.
func (d *Dispatcher) delivered(ctx context.Context, ag *aggrGroup, in Integration, b *Batch, attempts int, err error) {
	ev := d.newEvents(ag, b.Now, false)
	if ev == nil || (err != nil && d.ctx.Err() != nil) {
		return
	}
	e := Event{Kind: EventSent, Attempts: attempts}
	if err != nil {
		e.Kind, e.Error, e.Reason = EventFailed, err.Error(), FailureReason(err)
	}
	for _, a := range b.Alerts {
		e.Status = statusAt(a, b.Now)
		ev.add(a, e, &in)
	}
	ev.record(ctx)
}

func statusAt(a *Alert, now time.Time) string {
	if a.ResolvedAt(now) {
		return "resolved"
	}
	return "firing"
}
