package dispatch

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// eventLog is an EventRecorder keeping everything.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) RecordEvents(_ context.Context, evs []Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, evs...)
}

// of returns "kind receiver integration detail" of the events of the alert
// with alertname name, in order.
func (l *eventLog) of(name string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		if string(e.Labels["alertname"]) != name {
			continue
		}
		s := e.Kind + " " + e.Receiver
		if e.Integration != "" {
			s += " " + e.Integration
		}
		switch {
		case len(e.Silences) > 0:
			s += " " + strings.Join(e.Silences, ",")
		case e.Inhibitor != "":
			s += " " + e.Inhibitor
		case len(e.Intervals) > 0:
			s += " " + strings.Join(e.Intervals, ",")
		case e.Kind == EventSent || e.Kind == EventDeduplicated:
			s += " " + e.Status
		}
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

// The dispatcher tells its recorder what each flush did with each alert
// (and where: receiver, group, integration): sent, deduplicated, muted by
// which time interval, silenced by which silence, inhibited by which
// alert, dropped by a receiver without integrations; a flush
// that repeats the last outcome of an alert and integration (within
// repeat_interval) records nothing, and "told already" right after the
// send is no news: an alert is deduplicated when, say, its silence ends
// after it was notified.
func TestDispatcherEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now() // Saturday 2000-01-01 in the bubble
		log := &eventLog{}
		cfg := &config.Route{
			Receiver: "team", GroupBy: []model.LabelName{"alertname"}, GroupWait: dur(time.Second), GroupInterval: dur(time.Minute),
			RepeatInterval: dur(time.Hour),
			Routes: []*config.Route{
				{Matchers: matchers(t, "when", "=", "weekdays"), Receiver: "office", MuteTimeIntervals: []string{"weekend"}},
				{Matchers: matchers(t, "alertname", "=", "Nowhere"), Receiver: "blackhole"},
			},
		}
		var loudSilenced atomic.Bool
		silenced := func(lset model.LabelSet) []string {
			switch {
			case lset["alertname"] == "Quiet":
				return []string{"s-42"}
			case lset["alertname"] == "Loud" && loudSilenced.Load():
				return []string{"s-7"}
			}
			return nil
		}
		e := newEnv(t, cfg, withIntervals(map[string][]timeinterval.TimeInterval{"weekend": {{Weekdays: weekdays(time.Saturday, time.Sunday)}}}),
			func(o *Options) {
				o.Events, o.Silencer = log, SilencerFunc(silenced)
				o.Receivers["blackhole"] = nil
				o.Inhibitor = NewInhibitor([]*config.InhibitRule{{
					SourceMatchers: matchers(t, "alertname", "=", "Outage"), TargetMatchers: matchers(t, "alertname", "=", "Victim"),
				}})
			})
		outage := firing(t0, "alertname", "Outage")
		e.put(firing(t0, "alertname", "Loud"), firing(t0, "alertname", "Quiet"), outage,
			firing(t0, "alertname", "Victim"), firing(t0, "alertname", "Weekend", "when", "weekdays"), firing(t0, "alertname", "Nowhere"))
		advance(150 * time.Second) // the first flush, then two more
		loudSilenced.Store(true)
		advance(time.Minute)
		loudSilenced.Store(false)
		advance(time.Minute)

		require.Equal(t, []string{"sent team webhook/0 firing", "silenced team s-7", "deduplicated team webhook/0 firing"}, log.of("Loud"))
		require.Equal(t, []string{"silenced team s-42"}, log.of("Quiet"), "once per repeat_interval, not per flush")
		require.Equal(t, []string{"inhibited team " + outage.Labels.Fingerprint().String()}, log.of("Victim"))
		require.Equal(t, []string{"muted office weekend"}, log.of("Weekend"))
		require.Equal(t, []string{"dropped blackhole"}, log.of("Nowhere"))
		for _, ev := range log.events {
			want := time.Hour // quiet for the repeat_interval...
			if ev.Kind == EventSent {
				want = 0 // ...but every notification counts
			}
			require.Equal(t, want, ev.Quiet, ev.Kind)
			require.NotEmpty(t, ev.GroupKey)
		}

		// After the repeat_interval, a still silenced alert is recorded
		// again.
		advance(time.Hour)
		require.Equal(t, []string{"silenced team s-42", "silenced team s-42"}, log.of("Quiet"))
	})
}

// Replicas sharing a database record one timeline: what all of them
// decide alike (deduplicated, silenced...) only the group's preferred
// sender records; a send, the replica that sent.
func TestReplicasRecordEventsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, replicaRoute(5*time.Second), func(r string) bool { return r == "a" }, "a", "b")
		logs := []*eventLog{{}, {}}
		for i, e := range cl.envs {
			e.store.SetDispatcher(nil).Stop()
			e.opts.Events = logs[i]
			e.opts.Silencer = SilencerFunc(func(ls model.LabelSet) []string {
				if ls["alertname"] == "B" {
					return []string{"s1"}
				}
				return nil
			})
			e.disp = e.newDispatcher()
			e.store.SetDispatcher(e.disp)
		}
		start := time.Now()
		for _, e := range cl.envs {
			e.put(firing(start, "alertname", "A"), firing(start, "alertname", "B"))
		}
		advance(12 * time.Second)
		require.Equal(t, []string{"sent r webhook/0 firing"}, logs[0].of("A"))
		require.Equal(t, []string{"silenced r s1"}, logs[0].of("B"))
		require.Empty(t, logs[1].events, "the backup records nothing it did not do")
	})
}
