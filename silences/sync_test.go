package silences

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// TestSyncSharesReplicasSilences: two stores on one database, as two
// replicas: what one creates, changes, expires and collects, the other has
// after a Sync, and mutes by.
func TestSyncSharesReplicasSilences(t *testing.T) {
	clk := newClock()
	db := newMemPersister()
	a, b := newStore(t, clk, db), newStore(t, clk, db)
	lset := model.LabelSet{"team": "db"}

	id, err := a.Set(ctx, newSilence(labels.Matchers{eq(t, "team", "db")}, 0, time.Hour))
	require.NoError(t, err)
	require.Empty(t, b.Mutes(lset), "not before a Sync")
	n, err := b.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{id}, b.Mutes(lset))
	n, err = b.Sync(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing changed")

	// A change in place (a later end, a new comment).
	sil, err := a.Get(id)
	require.NoError(t, err)
	clk.Advance(time.Minute)
	sil.EndsAt, sil.Comment = sil.EndsAt.Add(time.Hour), "longer"
	id2, err := a.Set(ctx, sil)
	require.NoError(t, err)
	require.Equal(t, id, id2)
	_, err = b.Sync(ctx)
	require.NoError(t, err)
	got, err := b.Get(id)
	require.NoError(t, err)
	require.Equal(t, "longer", got.Comment)

	// Expired on a: b stops muting.
	require.NoError(t, a.Expire(ctx, id))
	_, err = b.Sync(ctx)
	require.NoError(t, err)
	require.Empty(t, b.Mutes(lset))

	// Collected on a: gone from b.
	clk.Advance(DefaultRetention + time.Hour)
	deleted, err := a.GC(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, deleted)
	_, err = b.Sync(ctx)
	require.NoError(t, err)
	_, err = b.Get(id)
	require.Error(t, err)

	// A failing database leaves b as it was.
	id3, err := a.Set(ctx, Silence{Matchers: labels.Matchers{eq(t, "team", "web")}, StartsAt: clk.Now(), EndsAt: clk.Now().Add(time.Hour), CreatedBy: "b", Comment: "c"})
	require.NoError(t, err)
	_, err = b.Sync(ctx)
	require.NoError(t, err)
	errBoom := errors.New("database down")
	db.failLoads(errBoom)
	_, err = b.Sync(ctx)
	require.ErrorIs(t, err, errBoom)
	require.Equal(t, []string{id3}, b.Mutes(model.LabelSet{"team": "web"}))
}
