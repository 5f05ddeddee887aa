package dispatch

import (
	"context"
	"time"

	"github.com/prometheus/common/model"
)

// Batch is what one flush hands to one integration: the group, its
// receiver and the alerts to notify about. It travels as a plain value,
// not as context keys.
type Batch struct {
	// GroupKey identifies the aggregation group: the route's key and the
	// group labels.
	GroupKey    string
	GroupLabels model.LabelSet
	Receiver    string
	RouteKey    string
	// Alerts are the alerts to send, firing and (with send_resolved)
	// resolved, sorted by labels.
	Alerts []*Alert
	// Now is the flush time; an alert is resolved if it ended by then.
	Now time.Time
	// Reason is why the notification is due.
	Reason NotifyReason
	// Muted is how many of the group's alerts silences and inhibition
	// kept out of the notification.
	Muted int
}

// Firing returns the batch's alerts that have not resolved by b.Now.
func (b *Batch) Firing() []*Alert {
	var out []*Alert
	for _, a := range b.Alerts {
		if !a.ResolvedAt(b.Now) {
			out = append(out, a)
		}
	}
	return out
}

// Notifier delivers a batch to one integration. retry says whether a failed
// attempt may succeed if repeated (a network error or a 5xx, not a 4xx).
type Notifier interface {
	Notify(ctx context.Context, b *Batch) (retry bool, err error)
}

// Integration is one entry of a receiver's *_configs lists.
type Integration struct {
	// Kind is the configuration key without "_configs": "webhook", ...
	Kind string
	// Index is the position within the receiver's list of that kind.
	Index        int
	SendResolved bool
	Notifier     Notifier
}

// Silencer reports the IDs of the active silences that mute a label set.
type Silencer interface {
	Mutes(lset model.LabelSet) []string
}

// SilencerFunc adapts a function to Silencer.
type SilencerFunc func(lset model.LabelSet) []string

// Mutes implements Silencer.
func (f SilencerFunc) Mutes(lset model.LabelSet) []string { return f(lset) }
