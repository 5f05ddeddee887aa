package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
	"github.com/alerter/alerter/storage"
)

// TestWantedSpreadsAndMovesLittle: rendezvous hashing spreads groups
// evenly over replicas whose IDs differ in a few bytes, and a replica
// joining takes only its share, from each of the others.
func TestWantedSpreadsAndMovesLittle(t *testing.T) {
	ids := []string{"host-0a1b2c3d", "host-99ff0011", "host-5e6f7a8b"}
	const groups = 900
	before := map[string]string{}
	count := map[string]int{}
	for g := range groups {
		key := fmt.Sprintf("/etc/alerter/rules.yml;group-%d", g)
		before[key] = wanted(ids, key)
		count[before[key]]++
	}
	for _, id := range ids {
		require.InDelta(t, groups/3, count[id], groups/3*0.2, "groups of %s: %v", id, count)
	}
	joined := append(ids, "host-5e6f7a8c")
	moved := 0
	for key, owner := range before {
		now := wanted(joined, key)
		if now != owner {
			require.Equal(t, "host-5e6f7a8c", now, "a group moves only to the replica that joined")
			moved++
		}
	}
	require.InDelta(t, groups/4, moved, groups/4*0.25, "the joining replica takes its share")
}

// TestMembershipBalancesGroups: two replicas on one database divide ten
// rule groups, each owned by exactly one; a replica is ready once it has
// joined; when one leaves, the other takes its groups at its next
// heartbeat.
func TestMembershipBalancesGroups(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(ctx, testutil.PostgresSchema(t))
	require.NoError(t, err)
	defer db.Close()
	var keys []string
	for i := range 10 {
		keys = append(keys, fmt.Sprintf("rules.yml;g%d", i))
	}
	logger := slog.New(slog.DiscardHandler)
	a, b := newMembership(db, "a:9095", logger, nil), newMembership(db, "b:9095", logger, nil)
	a.groups, b.groups = func() []string { return keys }, func() []string { return keys }
	require.False(t, a.ready(), "not ready before its first heartbeat")
	for range 3 { // both joined, then each takes what it wants
		require.NoError(t, a.tick(ctx))
		require.NoError(t, b.tick(ctx))
	}
	require.True(t, a.ready())
	owned := map[string]int{}
	for _, k := range keys {
		oa, _ := a.Owns(k)
		ob, _ := b.Owns(k)
		require.NotEqual(t, oa, ob, "group %s is owned by exactly one replica", k)
		if oa {
			owned["a"]++
		} else {
			owned["b"]++
		}
	}
	require.Len(t, owned, 2, "both replicas own groups: %v", owned)
	_, peers, err := a.cluster(ctx)
	require.NoError(t, err)
	require.Len(t, peers, 2)
	require.Equal(t, 10, len(peers[0].Groups)+len(peers[1].Groups), "the status lists every group under its replica")

	a.leave(ctx)
	require.NoError(t, b.tick(ctx))
	for _, k := range keys {
		ok, _ := b.Owns(k)
		require.True(t, ok, "b took %s over when a left", k)
	}
}

// TestStoragePasswordFile: the config's storage.password_file fills in the
// password of a URL that has none; a URL with one keeps it.
func TestStoragePasswordFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(f, []byte("s3cr:et/\n"), 0o600))
	got, err := withPassword("postgres://alerter@db:5432/alerter?sslmode=require", f)
	require.NoError(t, err)
	u, err := url.Parse(got)
	require.NoError(t, err)
	pw, _ := u.User.Password()
	require.Equal(t, "s3cr:et/", pw)
	require.Equal(t, "alerter", u.User.Username())
	got, err = withPassword("postgres://alerter:given@db/alerter", f)
	require.NoError(t, err)
	require.Equal(t, "postgres://alerter:given@db/alerter", got)
	_, err = withPassword("postgres://db/alerter", filepath.Join(t.TempDir(), "missing"))
	require.ErrorContains(t, err, "storage.password_file")
}
