package dispatch

import (
	"context"
	"sort"
	"strings"
	"sync"
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

// The dispatcher tells its recorder where each alert went and what each
// flush did with it: routed, sent, deduplicated, muted by which time
// interval, silenced by which silence, inhibited by which alert.
func TestDispatcherEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now() // Saturday 2000-01-01 in the bubble
		log := &eventLog{}
		cfg := &config.Route{
			Receiver: "team", GroupBy: []model.LabelName{"alertname"}, GroupWait: dur(time.Second), GroupInterval: dur(time.Minute),
			RepeatInterval: dur(time.Hour),
			Routes:         []*config.Route{{Matchers: matchers(t, "when", "=", "weekdays"), Receiver: "office", MuteTimeIntervals: []string{"weekend"}}},
		}
		silenced := func(lset model.LabelSet) []string {
			if lset["alertname"] == "Quiet" {
				return []string{"s-42"}
			}
			return nil
		}
		e := newEnv(t, cfg, withIntervals(map[string][]timeinterval.TimeInterval{"weekend": {{Weekdays: weekdays(time.Saturday, time.Sunday)}}}),
			func(o *Options) {
				o.Events, o.Silencer = log, SilencerFunc(silenced)
				o.Inhibitor = NewInhibitor([]*config.InhibitRule{{
					SourceMatchers: matchers(t, "alertname", "=", "Outage"), TargetMatchers: matchers(t, "alertname", "=", "Victim"),
				}})
			})
		outage := firing(t0, "alertname", "Outage")
		e.put(firing(t0, "alertname", "Loud"), firing(t0, "alertname", "Quiet"), outage,
			firing(t0, "alertname", "Victim"), firing(t0, "alertname", "Weekend", "when", "weekdays"))
		advance(90 * time.Second) // the first flush, then a second one a minute later

		require.Equal(t, []string{"routed team", "sent team webhook/0 firing", "deduplicated team webhook/0 firing"}, log.of("Loud"))
		require.Equal(t, []string{"routed team", "silenced team s-42", "silenced team s-42"}, log.of("Quiet"),
			"a recorder skips the repeat (Quiet); the dispatcher reports every flush")
		require.Equal(t, "inhibited team "+outage.Labels.Fingerprint().String(), log.of("Victim")[1])
		require.Equal(t, []string{"routed office", "muted office weekend", "muted office weekend"}, log.of("Weekend"))
		for _, ev := range log.events {
			want := time.Hour // quiet for the repeat_interval...
			if ev.Kind == EventSent {
				want = 0 // ...but every notification counts
			}
			require.Equal(t, want, ev.Quiet, ev.Kind)
			require.NotEmpty(t, ev.GroupKey)
		}
		kinds := map[string]bool{}
		for _, ev := range log.events {
			kinds[ev.Kind] = true
		}
		var got []string
		for k := range kinds {
			got = append(got, k)
		}
		sort.Strings(got)
		require.Equal(t, []string{"deduplicated", "inhibited", "muted", "routed", "sent", "silenced"}, got)
	})
}

// Replicas sharing a database record one timeline: what all of them
// decide alike (routed, deduplicated, silenced...) only the group's
// preferred sender records; a send, the replica that sent.
func TestReplicasRecordEventsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cl := newCluster(t, replicaRoute(5*time.Second), func(r string) bool { return r == "a" }, "a", "b")
		logs := []*eventLog{{}, {}}
		for i, e := range cl.envs {
			e.store.SetDispatcher(nil).Stop()
			e.opts.Events = logs[i]
			e.disp = e.newDispatcher()
			e.store.SetDispatcher(e.disp)
		}
		start := time.Now()
		for _, e := range cl.envs {
			e.put(firing(start, "alertname", "A"))
		}
		advance(12 * time.Second)
		got := logs[0].of("A")
		require.GreaterOrEqual(t, len(got), 3)
		require.Equal(t, []string{"routed r", "sent r webhook/0 firing", "deduplicated r webhook/0 firing"}, got[:3])
		require.Empty(t, logs[1].of("A"), "the backup records nothing it did not do")
	})
}
