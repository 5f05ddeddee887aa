package storage

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/dispatch"
)

func eventOf(ls model.LabelSet, min int, kind, receiver string, fill func(*dispatch.Event)) dispatch.Event {
	ev := dispatch.Event{At: historyT0.Add(time.Duration(min) * time.Minute), Fingerprint: ls.Fingerprint(), Labels: ls, Kind: kind}
	if receiver != "" {
		ev.Receiver, ev.Integration, ev.GroupKey, ev.Quiet = receiver, "webhook/0", "{}:{}", time.Hour
	}
	if fill != nil {
		fill(&ev)
	}
	return ev
}

// An alert's timeline holds its events in order with their fields; a
// silenced alert flushed every 5 minutes is recorded once per Quiet; an
// evaluation starts a new episode, after which the same suppression is
// recorded again.
func TestEventsTimeline(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		db := open(t, newTarget())
		defer db.Close()
		e := NewEvents(db, EventsOptions{})
		a := model.LabelSet{"alertname": "Disk", "team": "db", "instance": "h1"}
		b := model.LabelSet{"alertname": "Disk", "team": "web", "instance": "h2"}
		e.RecordEvents(ctx, []dispatch.Event{
			eventOf(a, 0, dispatch.EventPending, "", func(ev *dispatch.Event) { ev.Rule, ev.Value = "disk/Disk", "97" }),
			eventOf(a, 5, dispatch.EventFiring, "", nil),
			eventOf(b, 5, dispatch.EventFiring, "", nil),
		})
		silenced := func(min int) dispatch.Event {
			return eventOf(a, min, dispatch.EventSilenced, "team-db", func(ev *dispatch.Event) { ev.Silences = []string{"s1"} })
		}
		for m := 5; m <= 120; m += 5 { // every flush for two hours
			e.RecordEvents(ctx, []dispatch.Event{silenced(m)})
		}
		// Told already right after it was sent is not news.
		e.RecordEvents(ctx, []dispatch.Event{
			eventOf(b, 6, dispatch.EventSent, "team-web", func(ev *dispatch.Event) { ev.Status, ev.Quiet = "firing", 0 }),
			eventOf(b, 7, dispatch.EventDeduplicated, "team-web", func(ev *dispatch.Event) { ev.Status = "firing" }),
			eventOf(b, 8, dispatch.EventDeduplicated, "team-web", func(ev *dispatch.Event) { ev.Status = "firing" }),
			// ...but after a silence (of the whole receiver), it is.
			eventOf(b, 9, dispatch.EventSilenced, "team-web", func(ev *dispatch.Event) { ev.Integration, ev.Silences = "", []string{"s9"} }),
			eventOf(b, 10, dispatch.EventDeduplicated, "team-web", func(ev *dispatch.Event) { ev.Status = "firing" }),
		})
		e.RecordEvents(ctx, []dispatch.Event{
			eventOf(a, 121, dispatch.EventFailed, "team-db", func(ev *dispatch.Event) {
				ev.Error, ev.Reason, ev.Attempts, ev.Status = "502 Bad Gateway", dispatch.ReasonServerError, 4, "firing"
			}),
			eventOf(a, 130, dispatch.EventInactive, "", nil),
			silenced(131),
		})
		require.NoError(t, e.Flush(ctx))

		tls, more, err := e.Timeline(ctx, TimelineQuery{Fingerprints: []model.Fingerprint{a.Fingerprint()}})
		require.NoError(t, err)
		require.False(t, more)
		require.Len(t, tls, 1)
		tl := tls[0]
		require.Equal(t, a, tl.Labels)
		var kinds []string
		var mins []int
		for _, ev := range tl.Events {
			kinds = append(kinds, ev.Kind)
			mins = append(mins, int(ev.At.Sub(historyT0)/time.Minute))
		}
		require.Equal(t, []string{"pending", "firing", "silenced", "silenced", "failed", "inactive", "silenced"}, kinds)
		require.Equal(t, []int{0, 5, 5, 65, 121, 130, 131}, mins, "silenced once an hour (Quiet), and again after the evaluation")
		require.Equal(t, "disk/Disk", tl.Events[0].Rule)
		require.Equal(t, "97", tl.Events[0].Value)
		require.Equal(t, []string{"s1"}, tl.Events[2].Silences)
		failed := tl.Events[4]
		require.Equal(t, "502 Bad Gateway", failed.Error)
		require.Equal(t, 4, failed.Attempts)
		require.Equal(t, "team-db", failed.Receiver)
		require.Equal(t, "webhook/0", failed.Integration)

		// By matchers: both alerts named Disk, only one of team db.
		tls, _, err = e.Timeline(ctx, TimelineQuery{Matchers: eq("alertname", "Disk")})
		require.NoError(t, err)
		require.Len(t, tls, 2)
		require.Equal(t, a.Fingerprint(), tls[0].Fingerprint, "the alert seen last comes first")
		tls, _, err = e.Timeline(ctx, TimelineQuery{Matchers: eq("team", "web")})
		require.NoError(t, err)
		require.Len(t, tls, 1)
		require.Equal(t, b, tls[0].Labels)
		var bKinds []string
		for _, ev := range tls[0].Events {
			bKinds = append(bKinds, ev.Kind)
		}
		require.Equal(t, []string{"firing", "sent", "silenced", "deduplicated"}, bKinds, "not the deduplicated flushes right after the send")

		// A value JSON escapes is found all the same.
		odd := model.LabelSet{"alertname": "Odd", "path": `C:\a<b> "q" & ☃`}
		e.RecordEvents(ctx, []dispatch.Event{eventOf(odd, 1, dispatch.EventFiring, "", nil)})
		require.NoError(t, e.Flush(ctx))
		tls, _, err = e.Timeline(ctx, TimelineQuery{Matchers: eq("path", `C:\a<b> "q" & ☃`)})
		require.NoError(t, err)
		require.Len(t, tls, 1)
		require.Equal(t, odd, tls[0].Labels)

		// Retention: events before the cut go; so do alerts with none left.
		e.retention = time.Hour
		n, err := e.deleteExpired(ctx, historyT0.Add(125*time.Minute))
		require.NoError(t, err)
		require.Equal(t, int64(8), n)
		tls, _, err = e.Timeline(ctx, TimelineQuery{Matchers: eq("alertname", "Disk")})
		require.NoError(t, err)
		require.Len(t, tls, 1, "b's only event was before the cut")
		require.Len(t, tls[0].Events, 4)
	})
}

// A full queue drops events and counts them; RecordEvents never waits.
func TestEventsQueueBound(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	e := NewEvents(db, EventsOptions{QueueSize: 3})
	var evs []dispatch.Event
	for i := range 5 {
		evs = append(evs, eventOf(model.LabelSet{"i": model.LabelValue(rune('a' + i))}, i, dispatch.EventFiring, "", nil))
	}
	e.RecordEvents(context.Background(), evs)
	require.NoError(t, e.Flush(context.Background()))
	tls, _, err := e.Timeline(context.Background(), TimelineQuery{})
	require.NoError(t, err)
	require.Len(t, tls, 3)
	require.Equal(t, 2.0, promtest.ToFloat64(e.dropped.WithLabelValues("queue_full")))
}

func eq(name, value string) labels.Matchers {
	return labels.Matchers{{Type: labels.MatchEqual, Name: name, Value: value}}
}
