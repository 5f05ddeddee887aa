package dispatch

import (
	"context"
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

	EventRouted       = "routed"       // the routing tree put the alert into a group of a receiver
	EventSent         = "sent"         // a notification carrying the alert was delivered
	EventFailed       = "failed"       // a notification carrying it failed for good (Error; retries folded into Attempts)
	EventDeduplicated = "deduplicated" // a flush sent nothing: the receiver had been told already
	EventMuted        = "muted"        // a time interval of the route muted the flush (Intervals)
	EventSilenced     = "silenced"     // silences muted the alert (Silences)
	EventInhibited    = "inhibited"    // another alert inhibited it (Inhibitor)
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

// Signature is what makes two events of an alert, receiver and
// integration the same for Quiet.
func (e *Event) Signature() string {
	s := e.Kind + "\x00" + e.GroupKey + "\x00" + e.Status + "\x00" + e.Inhibitor + "\x00" + e.Reason
	for _, id := range e.Silences {
		s += "\x00" + id
	}
	for _, n := range e.Intervals {
		s += "\x00" + n
	}
	return s
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

// add appends one event of a; fill sets its kind's fields.
func (es *events) add(a *Alert, kind string, in *Integration, fill func(*Event)) {
	if es == nil {
		return
	}
	e := Event{
		At: es.now, Fingerprint: a.fp, Labels: a.Labels, Kind: kind,
		GroupKey: es.ag.key, Receiver: es.ag.route.Opts.Receiver, Quiet: es.quiet,
	}
	if in != nil {
		e.Integration = in.Kind + "/" + strconv.Itoa(in.Index)
	}
	if fill != nil {
		fill(&e)
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

// deduplicated records that a flush sent the integration nothing: every
// alert kept was notified already (prev says when).
func (d *Dispatcher) deduplicated(ctx context.Context, ag *aggrGroup, in Integration, fs *flushSet, prev *LogEntry) {
	ev := d.newEvents(ag, fs.now, true)
	if ev == nil {
		return
	}
	for _, a := range fs.alerts {
		if a.ResolvedAt(fs.now) && !in.SendResolved {
			continue
		}
		ev.add(a, EventDeduplicated, &in, func(e *Event) {
			e.Status = statusAt(a, fs.now)
			if prev != nil {
				e.SentAt = prev.SentAt
			}
		})
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
	kind := EventSent
	if err != nil {
		kind = EventFailed
	}
	for _, a := range b.Alerts {
		ev.add(a, kind, &in, func(e *Event) {
			e.Status, e.Attempts = statusAt(a, b.Now), attempts
			if err != nil {
				e.Error, e.Reason = err.Error(), FailureReason(err)
			} else {
				e.Quiet = 0 // every notification counts
			}
		})
	}
	ev.record(ctx)
}

func statusAt(a *Alert, now time.Time) string {
	if a.ResolvedAt(now) {
		return "resolved"
	}
	return "firing"
}
