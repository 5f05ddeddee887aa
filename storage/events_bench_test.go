package storage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/internal/testutil"
)

// BenchmarkTimeline reads one alert's timeline out of 7 days of history:
// 5,000 alerts with 100 events each (evaluations, routing, a flush's
// outcome per repeat_interval on two integrations, failures), and the
// alert asked for with 2,000 (the most a timeline returns); by
// fingerprint, and by matchers (which scan the alerts' labels).
func BenchmarkTimeline(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			target := b.TempDir()
			if backend == "postgres" {
				target = testutil.PostgresSchema(b)
			}
			ctx := context.Background()
			db, err := Open(ctx, target)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			e := NewEvents(db, EventsOptions{QueueSize: 1 << 20})
			end := time.Now()
			start := end.Add(-7 * 24 * time.Hour)
			kinds := []string{dispatch.EventRouted, dispatch.EventSent, dispatch.EventDeduplicated, dispatch.EventSilenced,
				dispatch.EventInhibited, dispatch.EventFailed, dispatch.EventSent, dispatch.EventDeduplicated}
			fill := func(ls model.LabelSet, n int) {
				evs := make([]dispatch.Event, n)
				step := end.Sub(start) / time.Duration(n)
				for i := range evs {
					evs[i] = dispatch.Event{At: start.Add(time.Duration(i) * step), Fingerprint: ls.Fingerprint(), Labels: ls,
						Kind: kinds[i%len(kinds)], Receiver: "team-" + string(ls["team"]), Integration: fmt.Sprintf("webhook/%d", i%2),
						GroupKey: `{}:{alertname="` + string(ls["alertname"]) + `"}`, Error: "unexpected status code 502", Silences: []string{"s1"}}
					if i%20 == 0 {
						evs[i].Kind, evs[i].Receiver, evs[i].Integration, evs[i].GroupKey = dispatch.EventFiring, "", "", ""
						evs[i].Rule, evs[i].Value = "g/"+string(ls["alertname"]), "97.5"
					}
				}
				e.RecordEvents(ctx, evs)
			}
			for a := range 5000 {
				fill(model.LabelSet{"alertname": model.LabelValue(fmt.Sprintf("Alert%03d", a%300)), "instance": model.LabelValue(fmt.Sprintf("host-%d:9100", a)),
					"team": model.LabelValue(fmt.Sprintf("t%d", a%20)), "severity": "warning", "job": "node"}, 100)
				if a%500 == 499 {
					if err := e.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			asked := model.LabelSet{"alertname": "DiskFull", "instance": "db-1:9100", "team": "db", "severity": "critical", "job": "node"}
			fill(asked, MaxTimelineEvents)
			if err := e.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			for _, q := range []struct {
				name string
				q    TimelineQuery
			}{
				{"fingerprint", TimelineQuery{Fingerprints: []model.Fingerprint{asked.Fingerprint()}, Since: start}},
				{"matchers", TimelineQuery{Matchers: labels.Matchers{{Type: labels.MatchEqual, Name: "alertname", Value: "DiskFull"}}, Since: start}},
			} {
				b.Run(q.name, func(b *testing.B) {
					for b.Loop() {
						tls, _, err := e.Timeline(ctx, q.q)
						if err != nil {
							b.Fatal(err)
						}
						if len(tls) != 1 || len(tls[0].Events) != MaxTimelineEvents {
							b.Fatalf("got %d timelines", len(tls))
						}
					}
				})
			}
		})
	}
}

// BenchmarkEventsWrite writes what a notification of 10,000 new alerts
// records: a "sent" event each, and each alert's labels.
func BenchmarkEventsWrite(b *testing.B) {
	db, err := Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	e := NewEvents(db, EventsOptions{QueueSize: 1 << 20})
	ctx := context.Background()
	round := 0
	for b.Loop() {
		round++
		evs := make([]dispatch.Event, 10000)
		for i := range evs {
			ls := model.LabelSet{"alertname": model.LabelValue(fmt.Sprintf("A%d", i%2000)), "instance": model.LabelValue(fmt.Sprintf("h%d-%d", i, round)),
				"job": "node", "severity": "warning", "svc": model.LabelValue(fmt.Sprintf("svc-%d", i%2000))}
			evs[i] = dispatch.Event{At: time.Now(), Fingerprint: ls.Fingerprint(), Labels: ls, Kind: dispatch.EventSent,
				Receiver: "team", Integration: "webhook/0", GroupKey: `{}:{alertname="` + string(ls["alertname"]) + `"}`, Status: "firing", Attempts: 1}
		}
		e.RecordEvents(ctx, evs)
		if err := e.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
