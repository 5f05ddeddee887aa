package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Concurrent writers share commits; one writer's failure undoes only its
// own changes; everything acknowledged is there after a reopen.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
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
				_, err := tx.Exec(`INSERT INTO silences (id, matchers, starts_at, ends_at, updated_at, created_by, comment)
					VALUES (?, '[]', 0, 0, 0, '', '')`, fmt.Sprint(i))
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
}
