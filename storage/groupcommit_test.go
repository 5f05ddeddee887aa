package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/internal/testutil"
)

// Concurrent writers share commits; one writer's failure undoes only its
// own changes; everything acknowledged is there after a reopen.
func TestGroupCommit(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		dir := newTarget()
		db := open(t, dir)
		errBad := errors.New("bad write")
		const writers = 64
		var wg sync.WaitGroup
		results := make([]error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = db.Write(ctx, func(tx *sql.Tx) error {
					_, err := tx.Exec(db.q(`INSERT INTO silences (id, matchers, starts_at, ends_at, updated_at, created_by, comment)
					VALUES (?, '[]', 0, 0, 0, '', '')`), fmt.Sprint(i))
					if err != nil {
						return err
					}
					if i%7 == 0 {
						return errBad // the insert above must be undone
					}
					return nil
				})
			}()
		}
		wg.Wait()
		for i, err := range results {
			if i%7 == 0 {
				require.ErrorIs(t, err, errBad, "writer %d", i)
			} else {
				require.NoError(t, err, "writer %d", i)
			}
		}
		require.NoError(t, db.Close())

		db = open(t, dir)
		defer db.Close()
		var n int
		require.NoError(t, db.db.QueryRow(`SELECT count(*) FROM silences`).Scan(&n))
		require.Equal(t, writers-(writers+6)/7, n)
		var bad int
		require.NoError(t, db.db.QueryRow(`SELECT count(*) FROM silences WHERE CAST(id AS INTEGER) % 7 = 0`).Scan(&bad))
		require.Zero(t, bad)
	})
}

func TestNotificationLogRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		dir := newTarget()
		db := open(t, dir)
		p := db.NotificationLog()
		at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
		in := []dispatch.LogEntry{
			{Key: `{}/{a="b"}:{x="y"} r/webhook/0`, Firing: []uint64{1, 1 << 63, 42}, Resolved: nil, SentAt: at, ExpiresAt: at.Add(time.Hour)},
			{Key: "k2", Firing: nil, Resolved: []uint64{7}, SentAt: at, ExpiresAt: at.Add(2 * time.Hour),
				Pending: []uint64{3, 9}, PendingAt: at.Add(time.Minute)},
			{Key: "k3", Pending: []uint64{5}, PendingAt: at, ExpiresAt: at.Add(3 * time.Hour)},
		}
		require.NoError(t, p.SaveNotificationLog(ctx, in, time.Time{}))
		// Deletes what expired by then: the first entry (at+1h), not k2 (at+2h).
		require.NoError(t, p.SaveNotificationLog(ctx, nil, at.Add(90*time.Minute)))
		require.NoError(t, db.Close())

		db = open(t, dir)
		defer db.Close()
		got, err := db.NotificationLog().LoadNotificationLog(ctx)
		require.NoError(t, err)
		require.Len(t, got, 2)
		sort.Slice(got, func(i, j int) bool { return got[i].Key < got[j].Key })
		require.Equal(t, in[1].Key, got[0].Key)
		require.Equal(t, in[1].Resolved, got[0].Resolved)
		require.Empty(t, got[0].Firing)
		require.True(t, in[1].SentAt.Equal(got[0].SentAt))
		require.True(t, in[1].ExpiresAt.Equal(got[0].ExpiresAt))
		require.Equal(t, in[1].Pending, got[0].Pending)
		require.True(t, in[1].PendingAt.Equal(got[0].PendingAt))
		// Only intended, never confirmed: no sent time.
		require.True(t, got[1].SentAt.IsZero())
		require.Equal(t, []uint64{5}, got[1].Pending)
	})
}

// TestGroupCommitSharesTransactions: while one transaction commits, the 63
// writers that arrive meanwhile are committed together in the next: two
// transactions, not 64. SQLite only: on PostgreSQL each write is a
// transaction of its own (TestPostgresWritesRetryDeadlocks).
func TestGroupCommitSharesTransactions(t *testing.T) {
	func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		db := open(t, newTarget())
		defer db.Close()
		queued := func() int {
			db.commit.mu.Lock()
			defer db.commit.mu.Unlock()
			return len(db.commit.queue)
		}
		insert := func(tx *sql.Tx, i int) error {
			_, err := tx.Exec(db.q(`INSERT INTO silences (id, matchers, starts_at, ends_at, updated_at, created_by, comment)
			VALUES (?, '[]', 0, 0, 0, '', '')`), fmt.Sprint(i))
			return err
		}
		before := db.commit.commits.Load()
		started, release := make(chan struct{}), make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- db.Write(ctx, func(tx *sql.Tx) error {
				close(started)
				<-release // the first transaction is slow to commit
				return insert(tx, 0)
			})
		}()
		<-started
		var wg sync.WaitGroup
		errs := make([]error, 64)
		for i := 1; i < 64; i++ {
			wg.Go(func() { errs[i] = db.Write(ctx, func(tx *sql.Tx) error { return insert(tx, i) }) })
		}
		for deadline := time.Now().Add(10 * time.Second); queued() < 63 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		require.Equal(t, 63, queued(), "the writers queue while a commit runs")
		close(release)
		require.NoError(t, <-first)
		wg.Wait()
		for _, err := range errs[1:] {
			require.NoError(t, err)
		}
		require.Equal(t, int64(2), db.commit.commits.Load()-before, "64 writes in two transactions")
	}(t, t.TempDir)
}

// TestPostgresWritesRetryDeadlocks: two writes that lock the same rows in
// opposite orders deadlock; PostgreSQL fails one, which is run again, and
// both succeed.
func TestPostgresWritesRetryDeadlocks(t *testing.T) {
	ctx := context.Background()
	db := open(t, testutil.PostgresSchema(t))
	defer db.Close()
	_, err := db.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('a', 0), ('b', 0)`)
	require.NoError(t, err)
	var (
		both     sync.WaitGroup
		attempts atomic.Int32
	)
	both.Add(2)
	lock := func(first, second string) error {
		tries := 0
		return db.Write(ctx, func(tx *sql.Tx) error {
			attempts.Add(1)
			tries++
			if _, err := tx.Exec(`UPDATE meta SET value = value + 1 WHERE key = $1`, first); err != nil {
				return err
			}
			if tries == 1 {
				both.Done() // the first attempts meet here, each holding one row
				both.Wait()
			}
			_, err := tx.Exec(`UPDATE meta SET value = value + 1 WHERE key = $1`, second)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- lock("a", "b") }()
	go func() { errs <- lock("b", "a") }()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	require.Equal(t, int32(3), attempts.Load(), "the deadlock's victim ran again")
	var a, b int
	require.NoError(t, db.db.QueryRowContext(ctx, `SELECT (SELECT value FROM meta WHERE key = 'a'), (SELECT value FROM meta WHERE key = 'b')`).Scan(&a, &b))
	require.Equal(t, []int{2, 2}, []int{a, b})
}
