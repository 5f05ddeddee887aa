package storage

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	plabels "github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/internal/testutil"
	"github.com/alerter/alerter/silences"
)

// TestCopySQLiteToPostgres: a single node's state, written through the
// stores alerter uses, reads back the same from PostgreSQL after Copy; a
// second copy into the same database is refused and changes nothing.
func TestCopySQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	src := open(t, t.TempDir())
	defer src.Close()
	ts := time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.UTC)

	sil := silences.Silence{ID: "s1", Matchers: labels.Matchers{matcher(t, labels.MatchRegexp, "team", "db|web")},
		StartsAt: ts, EndsAt: ts.Add(time.Hour), UpdatedAt: ts, CreatedBy: "zoë", Comment: "maintenance", Replaces: "s0"}
	require.NoError(t, src.Silences().SaveSilences(ctx, []silences.Silence{sil}, nil))
	entry := dispatch.LogEntry{Key: `{}:{alertname="A"} r/webhook/0`, Firing: []uint64{1, 2}, Resolved: []uint64{3},
		SentAt: ts, ExpiresAt: ts.Add(time.Hour), Pending: []uint64{4}, PendingAt: ts}
	require.NoError(t, src.NotificationLog().SaveNotificationLog(ctx, []dispatch.LogEntry{entry}, time.Time{}))
	state := evaluator.Alert{State: evaluator.StateFiring, Labels: plabels.FromStrings("alertname", "A"),
		Annotations: plabels.FromStrings("summary", "s"), Value: math.NaN(), ActiveAt: ts, FiredAt: ts}
	require.NoError(t, src.AlertStates().SaveAlertStates(ctx, "f.yml;g",
		evaluator.StateChanges{Upsert: []evaluator.RuleAlerts{{RuleKey: "A", Alerts: []evaluator.Alert{state}}}}))
	alert := &dispatch.Alert{Labels: model.LabelSet{"alertname": "B"}, StartsAt: ts, EndsAt: ts.Add(5 * time.Minute),
		UpdatedAt: ts, Timeout: true}
	require.NoError(t, src.Alerts().SaveAlerts(ctx, []*dispatch.Alert{alert}, nil, ts))
	h := NewHistory(src, HistoryOptions{})
	for i := range 3 {
		h.Record(ctx, attempt(i, "r", "webhook/0", "g", ""))
	}
	require.NoError(t, h.Flush(ctx))
	ev := NewEvents(src, EventsOptions{})
	ev.RecordEvents(ctx, []dispatch.Event{eventOf(alert.Labels, 0, dispatch.EventFiring, "", nil),
		eventOf(alert.Labels, 1, dispatch.EventSent, "r", nil)})
	require.NoError(t, ev.Flush(ctx))

	dst := open(t, testutil.PostgresSchema(t))
	defer dst.Close()
	counts, err := Copy(ctx, src, dst)
	require.NoError(t, err)
	require.Equal(t, CopyCounts{"silences": 1, "notification_log": 1, "alert_states": 1, "alerts": 1, "meta": 1,
		"notification_history": 3, "alert_events": 2, "alert_event_labels": 1}, counts)

	gotSils, err := dst.Silences().LoadSilences(ctx)
	require.NoError(t, err)
	require.Len(t, gotSils, 1)
	require.Equal(t, sil.Matchers.String(), gotSils[0].Matchers.String())
	require.Equal(t, "s0", gotSils[0].Replaces)
	require.Equal(t, "zoë", gotSils[0].CreatedBy)
	require.True(t, gotSils[0].EndsAt.Equal(sil.EndsAt))
	tls, _, err := NewEvents(dst, EventsOptions{}).Timeline(ctx, TimelineQuery{Fingerprints: []model.Fingerprint{alert.Labels.Fingerprint()}})
	require.NoError(t, err)
	require.Len(t, tls, 1)
	require.Len(t, tls[0].Events, 2)
	gotLog, err := dst.NotificationLog().LoadNotificationLog(ctx)
	require.NoError(t, err)
	require.Len(t, gotLog, 1)
	require.Equal(t, entry.Firing, gotLog[0].Firing)
	require.Equal(t, entry.Pending, gotLog[0].Pending)
	gotStates, err := dst.AlertStates().LoadAlertStates(ctx)
	require.NoError(t, err)
	require.Len(t, gotStates["f.yml;g"], 1)
	require.True(t, math.IsNaN(gotStates["f.yml;g"][0].Alerts[0].Value))
	gotAlerts, savedAt, err := dst.Alerts().LoadAlerts(ctx)
	require.NoError(t, err)
	require.Len(t, gotAlerts, 1)
	require.True(t, gotAlerts[0].Timeout)
	require.True(t, savedAt.Equal(ts))
	entries, err := NewHistory(dst, HistoryOptions{}).List(ctx, HistoryFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, entries, 3)

	_, err = Copy(ctx, src, dst)
	require.ErrorContains(t, err, "already holds state")
}
