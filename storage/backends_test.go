package storage

import (
	"context"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// eachBackend runs test against SQLite and PostgreSQL: newTarget returns
// a new, empty database of the backend to Open (a folder, or a URL of a
// schema of the test's own).
func eachBackend(t *testing.T, test func(t *testing.T, newTarget func() string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, func() string { return t.TempDir() }) })
	t.Run("postgres", func(t *testing.T) { test(t, func() string { return testutil.PostgresSchema(t) }) })
}

// TestPostgresReplicasMigrateAtOnce: replicas starting at once on an empty
// database all open it, and the schema is created once.
func TestPostgresReplicasMigrateAtOnce(t *testing.T) {
	target := testutil.PostgresSchema(t)
	const replicas = 6
	errs := make(chan error, replicas)
	dbs := make(chan *DB, replicas)
	for range replicas {
		go func() {
			db, err := Open(context.Background(), target)
			errs <- err
			dbs <- db
		}()
	}
	for range replicas {
		require.NoError(t, <-errs)
		if db := <-dbs; db != nil {
			defer db.Close()
		}
	}
	db := open(t, target)
	defer db.Close()
	var version, rows int
	require.NoError(t, db.db.QueryRow(`SELECT max(version), count(*) FROM alerter_schema`).Scan(&version, &rows))
	require.Equal(t, len(pgMigrations), version)
	require.Equal(t, 1, rows)
}

// TestCommitMetrics: the group commit's transactions and writes are
// counted and timed, per backend.
func TestCommitMetrics(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		db := open(t, newTarget())
		defer db.Close()
		commits := promtest.ToFloat64(db.metrics.commits)
		require.NoError(t, db.Silences().SaveSilences(context.Background(), nil, []string{"none"}))
		require.Equal(t, commits+1, promtest.ToFloat64(db.metrics.commits))
		require.Equal(t, 1.0, promtest.ToFloat64(db.metrics.writes))
		require.Zero(t, promtest.ToFloat64(db.metrics.failed))
		require.Len(t, db.Collectors(), 4)
	})
}

// TestReplicas: heartbeats list a replica until it leaves or falls silent.
func TestReplicas(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		db := open(t, newTarget())
		defer db.Close()
		t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
		longAgo := t0.Add(-time.Hour)
		require.NoError(t, db.Heartbeat(ctx, Replica{ID: "a", Address: "10.0.0.1:9095", StartedAt: t0, SeenAt: t0}, longAgo))
		require.NoError(t, db.Heartbeat(ctx, Replica{ID: "b", Address: "10.0.0.2:9095", StartedAt: t0, SeenAt: t0}, longAgo))
		require.NoError(t, db.Heartbeat(ctx, Replica{ID: "a", Address: "10.0.0.1:9095", StartedAt: t0, SeenAt: t0.Add(10 * time.Second)}, longAgo))
		got, err := db.Replicas(ctx, t0)
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, "a", got[0].ID)
		require.True(t, got[0].SeenAt.Equal(t0.Add(10*time.Second)))
		// b is silent since t0: not alive after it, forgotten when older than the bound.
		got, err = db.Replicas(ctx, t0.Add(5*time.Second))
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.NoError(t, db.Heartbeat(ctx, Replica{ID: "a", Address: "10.0.0.1:9095", StartedAt: t0, SeenAt: t0.Add(20 * time.Second)}, t0.Add(time.Second)))
		got, err = db.Replicas(ctx, t0)
		require.NoError(t, err)
		require.Len(t, got, 1, "b was forgotten")
		require.NoError(t, db.Leave(ctx, "a"))
		got, err = db.Replicas(ctx, t0)
		require.NoError(t, err)
		require.Empty(t, got)
	})
}
