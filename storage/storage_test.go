package storage

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/evaluator"
)

func open(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dir)
	require.NoError(t, err)
	return db
}

func TestAlertStatesRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		dir := newTarget()
		db := open(t, dir)
		ts := time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.UTC)
		firing := evaluator.Alert{
			State:       evaluator.StateFiring,
			Labels:      labels.FromStrings("alertname", "A", "instance", "a"),
			Annotations: labels.FromStrings("summary", `with "quotes" and ünïcode`),
			Value:       math.Inf(1),
			ActiveAt:    ts, FiredAt: ts.Add(time.Minute), LastSentAt: ts.Add(2 * time.Minute),
			ValidUntil: ts.Add(6 * time.Minute), KeepFiringSince: ts.Add(3 * time.Minute),
		}
		resolved := evaluator.Alert{
			State:  evaluator.StateInactive,
			Labels: labels.FromStrings("alertname", "A", "instance", "b"), Annotations: labels.EmptyLabels(),
			Value: math.NaN(), ActiveAt: ts, FiredAt: ts, ResolvedAt: ts.Add(time.Hour),
		}
		states := evaluator.StateChanges{Upsert: []evaluator.RuleAlerts{{RuleKey: `A{severity="page"}`, Alerts: []evaluator.Alert{firing, resolved}}}}
		require.NoError(t, db.AlertStates().SaveAlertStates(ctx, "f.yml;g", states))
		require.NoError(t, db.AlertStates().SaveAlertStates(ctx, "f.yml;other", states))
		require.NoError(t, db.AlertStates().DeleteAlertStates(ctx, "f.yml;other"))
		require.NoError(t, db.Close())

		db = open(t, dir)
		defer db.Close()
		got, err := db.AlertStates().LoadAlertStates(ctx)
		require.NoError(t, err)
		require.Len(t, got, 1)
		g := got["f.yml;g"]
		require.Len(t, g, 1)
		require.Equal(t, `A{severity="page"}`, g[0].RuleKey)
		require.Len(t, g[0].Alerts, 2)
		byInstance := map[string]evaluator.Alert{}
		for _, a := range g[0].Alerts {
			byInstance[a.Labels.Get("instance")] = a
		}
		require.Equal(t, firing, byInstance["a"])
		b := byInstance["b"]
		require.True(t, math.IsNaN(b.Value))
		b.Value = 0
		resolved.Value = 0
		require.Equal(t, resolved, b)
	})
}

// TestSaveWritesOnlyChanges: upserts replace an alert's row, deletes remove
// it, and the other rows of the group stay.
func TestSaveWritesOnlyChanges(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		db := open(t, newTarget())
		defer db.Close()
		mk := func(inst string, st evaluator.AlertState) evaluator.Alert {
			return evaluator.Alert{State: st, Labels: labels.FromStrings("alertname", "A", "instance", inst), Annotations: labels.EmptyLabels()}
		}
		up := func(as ...evaluator.Alert) evaluator.StateChanges {
			return evaluator.StateChanges{Upsert: []evaluator.RuleAlerts{{RuleKey: "A", Alerts: as}}}
		}
		s := db.AlertStates()
		require.NoError(t, s.SaveAlertStates(ctx, "g", up(mk("a", evaluator.StatePending), mk("b", evaluator.StatePending))))
		require.NoError(t, s.SaveAlertStates(ctx, "g", up(mk("a", evaluator.StateFiring))))
		require.NoError(t, s.SaveAlertStates(ctx, "g", evaluator.StateChanges{Delete: []evaluator.AlertRef{{RuleKey: "A", Labels: labels.FromStrings("alertname", "A", "instance", "b")}}}))
		got, err := s.LoadAlertStates(ctx)
		require.NoError(t, err)
		require.Len(t, got["g"], 1)
		require.Len(t, got["g"][0].Alerts, 1)
		require.Equal(t, evaluator.StateFiring, got["g"][0].Alerts[0].State)
		require.Equal(t, "a", got["g"][0].Alerts[0].Labels.Get("instance"))
	})
}

func TestSecondProcessIsRefused(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	defer db.Close()
	_, err := Open(context.Background(), dir)
	require.ErrorContains(t, err, "in use by another alerter process")
}

func TestNewerSchemaIsRefused(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	_, err := db.db.Exec("PRAGMA user_version = 99")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = Open(context.Background(), dir)
	require.ErrorContains(t, err, "schema version 99 is newer")
}

func TestUnwritableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes anywhere: use a path under a regular file instead.
		f := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(f, nil, 0o600))
		_, err := Open(context.Background(), filepath.Join(f, "sub"))
		require.ErrorContains(t, err, "create storage folder")
		return
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o500))
	_, err := Open(context.Background(), filepath.Join(dir, "sub"))
	require.ErrorContains(t, err, "create storage folder")
}

// TestReadsDoNotHoldUpWrites: while a read is in progress (its rows still
// open, as a long history query), a notification log entry is written at
// once. With one connection for both, the write waited for the read to end
// and could miss its deadline.
func TestReadsDoNotHoldUpWrites(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	defer db.Close()
	for i := range 3 {
		require.NoError(t, db.NotificationLog().SaveNotificationLog(ctx, []dispatch.LogEntry{{Key: fmt.Sprint(i), ExpiresAt: time.Now().Add(time.Hour)}}, time.Time{}))
	}
	rows, err := db.read.QueryContext(ctx, `SELECT key FROM notification_log`)
	require.NoError(t, err)
	defer rows.Close()
	require.True(t, rows.Next(), "a read in progress")
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, db.NotificationLog().SaveNotificationLog(wctx, []dispatch.LogEntry{{Key: "new", ExpiresAt: time.Now().Add(time.Hour)}}, time.Time{}))
}
