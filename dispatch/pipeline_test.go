package dispatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	_ "time/tzdata" // America/New_York without the system database

	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

// synctest's clock starts at 2000-01-01 00:00 UTC, a Saturday: 19:00 on
// Friday in New York.
func requireSynctestEpoch(t *testing.T) time.Time {
	t0 := time.Now()
	require.Equal(t, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), t0.UTC())
	require.Equal(t, time.Saturday, t0.UTC().Weekday())
	return t0
}

func newYork(t *testing.T) *timeinterval.Location {
	loc, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	return &timeinterval.Location{Location: loc}
}

func weekdays(begin, end time.Weekday) []timeinterval.WeekdayRange {
	return []timeinterval.WeekdayRange{{InclusiveRange: timeinterval.InclusiveRange{Begin: int(begin), End: int(end)}}}
}

func TestDispatchMuteTimeIntervalsLocation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := requireSynctestEpoch(t)
		intervals := map[string][]timeinterval.TimeInterval{
			"weekend-ny":  {{Weekdays: weekdays(time.Saturday, time.Sunday), Location: newYork(t)}},
			"weekend-utc": {{Weekdays: weekdays(time.Saturday, time.Sunday)}},
		}
		cfg := &config.Route{
			Receiver: "default", GroupBy: []model.LabelName{"alertname"}, GroupInterval: dur(time.Hour),
			// The root's mute interval is not inherited by the children.
			MuteTimeIntervals: []string{"weekend-utc"},
			Routes: []*config.Route{
				{Matchers: matchers(t, "tz", "=", "ny"), Receiver: "ny", MuteTimeIntervals: []string{"weekend-ny"}},
				{Matchers: matchers(t, "tz", "=", "utc"), Receiver: "utc", MuteTimeIntervals: []string{"weekend-utc"}},
				{Matchers: matchers(t, "tz", "=", "none"), Receiver: "none"},
			},
		}
		e := newEnv(t, cfg, withIntervals(intervals))
		week := t0.Add(7 * 24 * time.Hour)
		e.put(
			firingUntil(t0, week, "alertname", "A", "tz", "ny"),
			firingUntil(t0, week, "alertname", "A", "tz", "utc"),
			firingUntil(t0, week, "alertname", "A", "tz", "none"),
			firingUntil(t0, week, "alertname", "A", "tz", "root"),
		)
		advance(30 * time.Second)
		// Friday evening in New York: not muted there; Saturday in UTC.
		require.Len(t, e.rec.to("ny"), 1)
		require.Len(t, e.rec.to("none"), 1)
		require.Empty(t, e.rec.to("utc"))
		require.Empty(t, e.rec.to("default"))

		// A new alert for New York at 23:01 on Friday there; the next tick
		// is at 00:00:30 on Saturday in New York: muted until Monday 00:00
		// New York time (05:00 UTC).
		advance(4*time.Hour + 30*time.Second)
		e.put(firingUntil(time.Now(), week, "alertname", "A", "tz", "ny", "instance", "2"))
		advance(24 * time.Hour)
		require.Len(t, e.rec.to("ny"), 1)
		require.Empty(t, e.rec.to("utc"))

		// UTC Monday starts at t0+48h; New York Monday at t0+53h.
		advance(48*time.Hour + time.Minute - time.Since(t0))
		utc := e.rec.to("utc")
		require.Len(t, utc, 1)
		require.Equal(t, t0.Add(48*time.Hour+30*time.Second), utc[0].At)
		require.Len(t, e.rec.to("ny"), 1)
		root := e.rec.to("default")
		require.Len(t, root, 1)
		require.Equal(t, t0.Add(48*time.Hour+30*time.Second), root[0].At)

		advance(5 * time.Hour)
		ny := e.rec.to("ny")
		require.Len(t, ny, 2)
		require.Equal(t, t0.Add(53*time.Hour+30*time.Second), ny[1].At)
		require.Equal(t, "A/2,A", ids(ny[1].Firing)) // instance label first, as Alertmanager
		// Muted flushes write nothing to the log: only the flushes that
		// sent did.
		require.Len(t, logEntries(e.log), 4)
	})
}

func TestDispatchActiveTimeIntervals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := requireSynctestEpoch(t)
		business := timeinterval.TimeInterval{
			Weekdays: weekdays(time.Monday, time.Friday),
			Times:    []timeinterval.TimeRange{{StartMinute: 9 * 60, EndMinute: 17 * 60}},
			Location: newYork(t),
		}
		// 22:00 to 06:00 in New York: two ranges, across midnight.
		night := timeinterval.TimeInterval{
			Times:    []timeinterval.TimeRange{{StartMinute: 22 * 60, EndMinute: 24 * 60}, {StartMinute: 0, EndMinute: 6 * 60}},
			Location: newYork(t),
		}
		cfg := &config.Route{
			Receiver: "default", GroupBy: []model.LabelName{"alertname"}, GroupInterval: dur(time.Hour),
			Routes: []*config.Route{
				{Matchers: matchers(t, "when", "=", "business"), Receiver: "biz", ActiveTimeIntervals: []string{"business"}},
				{Matchers: matchers(t, "when", "=", "night"), Receiver: "night", ActiveTimeIntervals: []string{"night"}},
				// Active and muted: the mute wins where both apply.
				{Matchers: matchers(t, "when", "=", "both"), Receiver: "both",
					ActiveTimeIntervals: []string{"business"}, MuteTimeIntervals: []string{"lunch"}},
			},
		}
		lunch := timeinterval.TimeInterval{Times: []timeinterval.TimeRange{{StartMinute: 12 * 60, EndMinute: 13 * 60}}, Location: newYork(t)}
		e := newEnv(t, cfg, withIntervals(map[string][]timeinterval.TimeInterval{
			"business": {business}, "night": {night}, "lunch": {lunch},
		}))
		week := t0.Add(7 * 24 * time.Hour)
		e.put(
			firingUntil(t0, week, "alertname", "Biz", "when", "business"),
			firingUntil(t0, week, "alertname", "Night", "when", "night"),
		)
		advance(30 * time.Second)
		require.Empty(t, e.rec.all(), "19:00 on a Friday in New York: neither active")
		// Night starts at 22:00 New York = 03:00 UTC: tick at 03:00:30.
		advance(3 * time.Hour)
		night1 := e.rec.to("night")
		require.Len(t, night1, 1)
		require.Equal(t, t0.Add(3*time.Hour+30*time.Second), night1[0].At)
		require.Empty(t, e.rec.to("biz"))

		// Monday 09:00 New York is 14:00 UTC on Jan 3: t0+62h.
		advance(62*time.Hour - time.Since(t0))
		require.Empty(t, e.rec.to("biz"), "08:59:30 is the last tick before")
		advance(30 * time.Second)
		biz := e.rec.to("biz")
		require.Len(t, biz, 1)
		require.Equal(t, t0.Add(62*time.Hour+30*time.Second), biz[0].At)

		// Active and muted: an alert put at 12:05 on Monday in New York
		// waits for the end of lunch.
		advance(65*time.Hour + 5*time.Minute - time.Since(t0))
		e.put(firingUntil(time.Now(), week, "alertname", "Both", "when", "both"))
		advance(30 * time.Second)
		require.Empty(t, e.rec.to("both"), "12:05:30 New York: lunch mutes")
		advance(time.Hour)
		both := e.rec.to("both")
		require.Len(t, both, 1)
		require.Equal(t, t0.Add(66*time.Hour+5*time.Minute+30*time.Second), both[0].At)
	})
}

func TestDispatchRetryUntilSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var attempts []time.Time
		n := &fakeNotifier{name: "webhook/0", fn: func(ctx context.Context, b *Batch) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, time.Now())
			if len(attempts) <= 3 {
				return true, errors.New("503 Service Unavailable")
			}
			return false, nil
		}}
		e := newEnv(t, simpleRoute(30*time.Second, time.Minute, 4*time.Hour),
			withIntegrations("r", Integration{Kind: "webhook", Notifier: n}))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A"))
		advance(time.Minute)
		mu.Lock()
		got := append([]time.Time(nil), attempts...)
		mu.Unlock()
		require.Len(t, got, 4)
		flush := t0.Add(30 * time.Second)
		require.Equal(t, flush, got[0])
		for i := 1; i < len(got); i++ {
			gap := got[i].Sub(got[i-1])
			require.Greater(t, gap, time.Duration(0), "attempt %d: backoff", i)
			require.LessOrEqual(t, gap, 30*time.Second, "attempt %d", i)
		}
		require.Less(t, got[3].Sub(flush), 10*time.Second, "a few backoffs, well within the flush deadline")
		es := logEntries(e.log)
		require.Len(t, es, 1, "logged after the success")
		require.Equal(t, flush, es[0].SentAt)
		// Delivered: not sent again at the next tick.
		advance(5 * time.Minute)
		mu.Lock()
		require.Len(t, attempts, 4)
		mu.Unlock()
	})
}

func TestDispatchRetryUntilFlushDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var attempts []time.Time
		var deadline time.Time
		fail := true
		n := &fakeNotifier{name: "webhook/0", fn: func(ctx context.Context, b *Batch) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, time.Now())
			deadline, _ = ctx.Deadline()
			if fail {
				return true, errors.New("connection refused")
			}
			return false, nil
		}}
		e := newEnv(t, simpleRoute(30*time.Second, time.Minute, 4*time.Hour),
			withIntegrations("r", Integration{Kind: "webhook", Notifier: n}))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A"))
		advance(30*time.Second + time.Minute - time.Millisecond)
		flush := t0.Add(30 * time.Second)
		mu.Lock()
		got := append([]time.Time(nil), attempts...)
		require.Equal(t, flush.Add(time.Minute), deadline, "the flush deadline is group_interval")
		fail = false
		mu.Unlock()
		require.GreaterOrEqual(t, len(got), 5)
		for _, a := range got {
			require.False(t, a.Before(flush))
			require.True(t, a.Before(flush.Add(time.Minute)), "no attempt after the deadline")
		}
		require.Greater(t, got[len(got)-1].Sub(flush), 30*time.Second, "kept retrying until near the deadline")
		require.Empty(t, confirmed(e.log), "not delivered: not logged")
		require.Len(t, pending(e.log), 1, "but recorded as possibly sent")

		// The next flush (one group_interval after the first) tries again.
		advance(time.Millisecond)
		mu.Lock()
		require.Equal(t, flush.Add(time.Minute), attempts[len(attempts)-1])
		mu.Unlock()
		require.Len(t, confirmed(e.log), 1)
		require.Empty(t, pending(e.log), "the delivery confirms the notification")
	})
}

func TestDispatchNonRetryableNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		n := &fakeNotifier{name: "webhook/0", rec: rec, fn: func(context.Context, *Batch) (bool, error) {
			return false, errBadRequest
		}}
		e := newEnv(t, simpleRoute(30*time.Second, time.Minute, 4*time.Hour),
			withIntegrations("r", Integration{Kind: "webhook", Notifier: n}))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A"))
		advance(time.Minute)
		bs := rec.all()
		require.Len(t, bs, 1, "one attempt per flush")
		require.Empty(t, confirmed(e.log))
		advance(time.Minute)
		bs = rec.all()
		require.Len(t, bs, 2, "tried again at the next flush")
		require.Equal(t, t0.Add(90*time.Second), bs[1].At)
	})
}

func TestDispatchSlowIntegrationDelaysNothingElse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		var mu sync.Mutex
		var slowReturned time.Time
		slow := &fakeNotifier{name: "slow", rec: rec, fn: func(ctx context.Context, b *Batch) (bool, error) {
			<-ctx.Done()
			mu.Lock()
			slowReturned = time.Now()
			mu.Unlock()
			return true, ctx.Err()
		}}
		fast := &fakeNotifier{name: "fast", rec: rec}
		other := &fakeNotifier{name: "other", rec: rec}
		cfg := &config.Route{
			Receiver: "r", GroupBy: []model.LabelName{"alertname"}, GroupInterval: dur(2 * time.Minute),
			Routes: []*config.Route{{Matchers: matchers(t, "alertname", "=", "B"), Receiver: "o"}},
		}
		e := newEnv(t, cfg,
			withIntegrations("r",
				Integration{Kind: "webhook", Index: 0, Notifier: slow},
				Integration{Kind: "webhook", Index: 1, Notifier: fast}),
			withIntegrations("o", Integration{Kind: "webhook", Notifier: other}))
		t0 := time.Now()
		e.put(firing(t0, "alertname", "A"), firing(t0, "alertname", "C"))
		advance(10 * time.Second)
		e.put(firing(time.Now(), "alertname", "B"))
		advance(time.Minute)

		byName := map[string][]time.Duration{}
		for _, b := range rec.all() {
			byName[b.Integration] = append(byName[b.Integration], b.At.Sub(t0))
		}
		// The fast integration of the same receiver, and another group of
		// the same receiver, are on time.
		require.Equal(t, []time.Duration{30 * time.Second, 30 * time.Second}, byName["fast"])
		require.Equal(t, []time.Duration{30 * time.Second, 30 * time.Second}, byName["slow"])
		// Another receiver's group is on time.
		require.Equal(t, []time.Duration{40 * time.Second}, byName["other"])

		// The slow one is cut off at the flush deadline (group_interval).
		advance(2 * time.Minute)
		mu.Lock()
		require.Equal(t, t0.Add(30*time.Second+2*time.Minute), slowReturned)
		mu.Unlock()
		// Only the fast integrations were logged; the slow one's
		// notifications (groups A and C) are recorded as possibly sent.
		require.Len(t, confirmed(e.log), 3)
		require.Len(t, pending(e.log), 2)
	})
}

func TestDispatchFlushDeadlineAtLeastMinTimeout(t *testing.T) {
	// As Alertmanager (notify.MinTimeout): a flush may take
	// max(group_interval, 10s), or the configured minimum.
	f := func(gi, minTimeout, want time.Duration) {
		t.Helper()
		synctest.Test(t, func(t *testing.T) {
			rec := &recorder{}
			e := newEnv(t, simpleRoute(time.Second, gi, time.Hour),
				withIntegrations("r", Integration{Kind: "webhook", Notifier: &fakeNotifier{rec: rec}}),
				func(o *Options) { o.MinFlushTimeout = minTimeout })
			t0 := time.Now()
			e.put(firing(t0, "alertname", "A"))
			advance(time.Second)
			bs := rec.all()
			require.Len(t, bs, 1)
			require.Equal(t, t0.Add(time.Second+want), bs[0].Deadline)
		})
	}
	f(2*time.Second, 0, 10*time.Second)
	f(time.Minute, 0, time.Minute)
	f(2*time.Second, 5*time.Second, 5*time.Second)
	f(2*time.Second, time.Second, 2*time.Second)
}
