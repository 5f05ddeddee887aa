package storage

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/internal/testutil"
)

// TestNotificationClaims: one owner at a time holds an entry's claim; the
// entry a winner gets is the one the last confirmation wrote; a confirmed
// write ends its owner's claim only; a lease that runs out frees it.
func TestNotificationClaims(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		target := newTarget()
		a := open(t, target)
		defer a.Close()
		b := a // SQLite: one process holds the database
		if IsURL(target) {
			b = open(t, target)
			defer b.Close()
		}
		const key = "{}:{team=\"db\"} pager/webhook/0"
		expires := time.Now().Add(time.Hour)

		won, err := a.Claims().ClaimNotification(ctx, key, "a/1", time.Minute, expires)
		require.NoError(t, err)
		require.True(t, won.Won)
		require.Nil(t, won.Entry, "no notification was logged yet")

		lost, err := b.Claims().ClaimNotification(ctx, key, "b/1", time.Minute, expires)
		require.NoError(t, err)
		require.False(t, lost.Won)
		require.Equal(t, "a/1", lost.Holder)
		require.Greater(t, lost.Remaining, 50*time.Second)

		// Renewing another's claim fails; the holder's succeeds.
		ok, err := b.Claims().RenewNotification(ctx, key, "b/1", time.Minute)
		require.NoError(t, err)
		require.False(t, ok)
		ok, err = a.Claims().RenewNotification(ctx, key, "a/1", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)

		// The holder confirms its notification: the claim ends and the
		// next winner reads the entry.
		sent := time.Now().Truncate(time.Microsecond)
		require.NoError(t, a.NotificationLog().SaveNotificationLog(ctx, []dispatch.LogEntry{{
			Key: key, Firing: []uint64{3, 7}, Resolved: []uint64{}, SentAt: sent, ExpiresAt: expires, Release: "a/1",
		}}, time.Time{}))
		won, err = b.Claims().ClaimNotification(ctx, key, "b/2", time.Minute, expires)
		require.NoError(t, err)
		require.True(t, won.Won)
		require.NotNil(t, won.Entry)
		require.Equal(t, []uint64{3, 7}, won.Entry.Firing)
		require.True(t, sent.Equal(won.Entry.SentAt))

		// A write that names another owner keeps b's claim.
		require.NoError(t, a.NotificationLog().SaveNotificationLog(ctx, []dispatch.LogEntry{{
			Key: key, Firing: []uint64{3}, SentAt: sent, ExpiresAt: expires, Release: "a/1",
		}}, time.Time{}))
		lost, err = a.Claims().ClaimNotification(ctx, key, "a/2", time.Minute, expires)
		require.NoError(t, err)
		require.False(t, lost.Won, "a's write must not end b's claim")

		// Ended by a lease of 0, it is free at once.
		ok, err = b.Claims().RenewNotification(ctx, key, "b/2", 0)
		require.NoError(t, err)
		require.True(t, ok)
		time.Sleep(5 * time.Millisecond) // SQLite's clock counts milliseconds
		won, err = a.Claims().ClaimNotification(ctx, key, "a/3", 50*time.Millisecond, expires)
		require.NoError(t, err)
		require.True(t, won.Won)
		// A lease that runs out frees the claim for the next claimant.
		require.Eventually(t, func() bool {
			c, err := b.Claims().ClaimNotification(ctx, key, "b/3", time.Minute, expires)
			return err == nil && c.Won
		}, 5*time.Second, 20*time.Millisecond)
	})
}

// TestGroupLeases: a group's lease is one owner's until it gives it up or
// it runs out; the others take it then.
func TestGroupLeases(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		db := open(t, newTarget())
		defer db.Close()
		held, err := db.TakeGroupLeases(ctx, "a", []string{"f;g1", "f;g2"}, nil, time.Minute)
		require.NoError(t, err)
		require.Equal(t, []string{"f;g1", "f;g2"}, held)
		held, err = db.TakeGroupLeases(ctx, "b", []string{"f;g1", "f;g3"}, nil, time.Minute)
		require.NoError(t, err)
		require.Equal(t, []string{"f;g3"}, held, "g1 is a's")
		// a gives g1 up and renews g2; b takes g1.
		held, err = db.TakeGroupLeases(ctx, "a", []string{"f;g2"}, []string{"f;g1"}, 50*time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, []string{"f;g2"}, held)
		time.Sleep(5 * time.Millisecond)
		held, err = db.TakeGroupLeases(ctx, "b", []string{"f;g1"}, nil, time.Minute)
		require.NoError(t, err)
		require.Equal(t, []string{"f;g1"}, held)
		// g2's short lease runs out: b takes it.
		require.Eventually(t, func() bool {
			held, err := db.TakeGroupLeases(ctx, "b", []string{"f;g2"}, nil, time.Minute)
			return err == nil && len(held) == 1
		}, 5*time.Second, 20*time.Millisecond)
		leases, err := db.GroupLeases(ctx)
		require.NoError(t, err)
		require.Len(t, leases, 3)
		for _, l := range leases {
			require.Equal(t, "b", l.Owner, l.Key)
			require.Greater(t, l.Remaining, 30*time.Second, l.Key)
		}
	})
}

// TestAlertsChangedSince: on PostgreSQL a replica reads the alerts written
// since its cursor, whatever wrote them, and nothing more when nothing
// changed.
func TestAlertsChangedSince(t *testing.T) {
	ctx := context.Background()
	target := testutil.PostgresSchema(t)
	writer, reader := open(t, target), open(t, target)
	defer writer.Close()
	defer reader.Close()
	now := time.Now().Truncate(time.Microsecond)
	clock := now
	store := dispatch.NewStore(time.Hour, func() time.Time { return clock })
	_, err := store.Restore(ctx, writer.Alerts())
	require.NoError(t, err)
	put := func(names ...string) {
		var alerts []*dispatch.Alert
		for _, n := range names {
			alerts = append(alerts, &dispatch.Alert{Labels: model.LabelSet{"alertname": model.LabelValue(n)}, StartsAt: now})
		}
		require.NoError(t, store.Put(alerts))
		require.NoError(t, store.Persist(ctx))
	}
	put("A", "B")
	got, cursor, err := reader.AlertSource().AlertsChangedSince(ctx, 0)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Positive(t, cursor)

	got, cursor, err = reader.AlertSource().AlertsChangedSince(ctx, cursor)
	require.NoError(t, err)
	require.Empty(t, got, "nothing changed since")

	clock = now.Add(time.Second)
	put("B", "C")
	got, _, err = reader.AlertSource().AlertsChangedSince(ctx, cursor)
	require.NoError(t, err)
	names := map[model.LabelValue]time.Time{}
	for _, a := range got {
		names[a.Labels["alertname"]] = a.UpdatedAt
	}
	require.Len(t, names, 2)
	require.True(t, clock.Equal(names["B"]), "B's update is read")
	require.Contains(t, names, model.LabelValue("C"))
}

// TestLogChangedSince: on PostgreSQL a replica reads the notification log
// entries written since its cursor, not a claim that changed no entry, and
// nothing more when nothing changed.
func TestLogChangedSince(t *testing.T) {
	ctx := context.Background()
	target := testutil.PostgresSchema(t)
	writer, reader := open(t, target), open(t, target)
	defer writer.Close()
	defer reader.Close()
	expires := time.Now().Add(time.Hour)
	sent := time.Now().Truncate(time.Microsecond)
	save := func(e dispatch.LogEntry) {
		e.ExpiresAt = expires
		require.NoError(t, writer.NotificationLog().SaveNotificationLog(ctx, []dispatch.LogEntry{e}, time.Time{}))
	}
	save(dispatch.LogEntry{Key: "a", Firing: []uint64{1}, SentAt: sent, Versions: []int64{5}})
	save(dispatch.LogEntry{Key: "b", Pending: []uint64{2}, PendingAt: sent})
	got, cursor, err := reader.Claims().LogChangedSince(ctx, 0)
	require.NoError(t, err)
	require.Len(t, got, 2)
	byKey := map[string]dispatch.LogEntry{}
	for _, e := range got {
		byKey[e.Key] = e
	}
	require.Equal(t, []uint64{1}, byKey["a"].Firing)
	require.Equal(t, []int64{5}, byKey["a"].Versions)
	require.True(t, sent.Equal(byKey["a"].SentAt))
	require.Equal(t, []uint64{2}, byKey["b"].Pending)

	got, cursor, err = reader.Claims().LogChangedSince(ctx, cursor)
	require.NoError(t, err)
	require.Empty(t, got, "nothing changed since")

	// Claims change no entry: a claim of a, and a new key claimed only.
	for _, key := range []string{"a", "c"} {
		c, err := writer.Claims().ClaimNotification(ctx, key, "w/1", time.Minute, expires)
		require.NoError(t, err)
		require.True(t, c.Won)
	}
	got, cursor, err = reader.Claims().LogChangedSince(ctx, cursor)
	require.NoError(t, err)
	require.Empty(t, got, "claims are not entries")

	save(dispatch.LogEntry{Key: "a", Firing: []uint64{1, 3}, SentAt: sent.Add(time.Second), Release: "w/1"})
	got, _, err = reader.Claims().LogChangedSince(ctx, cursor)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "a", got[0].Key)
	require.Equal(t, []uint64{1, 3}, got[0].Firing)
}
