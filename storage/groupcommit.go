package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// A write is one caller's part of a group commit.
type write struct {
	f    func(*sql.Tx) error
	done chan error
}

// committer batches concurrent writes into one transaction, so that many
// callers share one fsync. There is no background goroutine: the first
// caller to find no commit in progress becomes the leader, commits every
// queued write (its own and those that arrived meanwhile) and hands over
// to whoever queued during its commit.
type committer struct {
	mu      sync.Mutex
	queue   []write
	leading bool
	// commits counts the transactions committed, for tests and metrics.
	commits atomic.Int64
}

// Write runs f in a transaction shared with concurrent writers and returns
// once that transaction is durable (or failed). If f returns an error, only
// its own changes are undone and the error is returned to its caller alone.
// f may run twice (again when a write of its batch failed), so it must do
// nothing but write through tx.
//
// On PostgreSQL each write is a transaction of its own on a pooled
// connection instead: the server runs them concurrently and shares the
// WAL's flushes itself, and replicas sharing the database write the same
// rows (alerts, claims), which a batch of unrelated writes would lock in
// an order of its own and deadlock on.
func (s *DB) Write(ctx context.Context, f func(*sql.Tx) error) error {
	if s.postgres {
		return s.writeAlone(ctx, f)
	}
	w := write{f: f, done: make(chan error, 1)}
	c := &s.commit
	c.mu.Lock()
	c.queue = append(c.queue, w)
	if c.leading {
		c.mu.Unlock()
		select {
		case err := <-w.done:
			return err
		case <-ctx.Done():
			// The write may still be committed by the leader; the caller
			// only stops waiting for it.
			return ctx.Err()
		}
	}
	c.leading = true
	for len(c.queue) > 0 {
		batch := c.queue
		c.queue = nil
		c.mu.Unlock()
		s.commitBatch(batch)
		c.mu.Lock()
	}
	c.leading = false
	c.mu.Unlock()
	return <-w.done
}

// commitBatch commits batch in one transaction and reports to each writer.
// The leader's own context is not used: it commits on behalf of others.
//
// The writes run one after the other in the transaction as they are; a
// savepoint around each (three statements more per write, a third of a
// burst's time) is needed only when one fails. Then the transaction is
// rolled back and the batch runs again with each write under its own
// savepoint, so that only the failed write's changes are undone and its
// error goes to its caller alone.
func (s *DB) commitBatch(batch []write) {
	ctx := context.Background()
	start := time.Now()
	errs := make([]error, len(batch))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, w := range batch {
			if err := w.f(tx); err != nil {
				return errWriteFailed
			}
		}
		return nil
	})
	if errors.Is(err, errWriteFailed) {
		err = s.tx(ctx, func(tx *sql.Tx) error {
			for i, w := range batch {
				errs[i] = savepoint(ctx, tx, w.f)
			}
			return nil
		})
	}
	s.commit.commits.Add(1)
	s.metrics.observe(len(batch), time.Since(start), err)
	for i, w := range batch {
		if err != nil {
			errs[i] = fmt.Errorf("commit: %w", err)
		}
		w.done <- errs[i]
	}
}

// errWriteFailed rolls back a batch in which a write failed, to run it
// again write by write.
var errWriteFailed = errors.New("a write of the batch failed")

func savepoint(ctx context.Context, tx *sql.Tx, f func(*sql.Tx) error) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
		return err
	}
	if err := f(tx); err != nil {
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO w"); rerr != nil {
			return fmt.Errorf("%w (and undoing it: %v)", err, rerr)
		}
		_, _ = tx.ExecContext(ctx, "RELEASE w")
		return err
	}
	_, err := tx.ExecContext(ctx, "RELEASE w")
	return err
}

// writeAlone runs f in a transaction of its own, again (at most twice
// more) if PostgreSQL chose it as a deadlock's victim or failed it for
// serialization.
//
// As a group commit's, the transaction does not end with ctx: the caller
// only stops waiting (the write may be committed all the same), and
// writeTimeout bounds it.
func (s *DB) writeAlone(ctx context.Context, f func(*sql.Tx) error) error {
	done := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
		defer cancel()
		start := time.Now()
		var err error
		for range 3 {
			err = s.tx(wctx, f)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") {
				break
			}
		}
		s.commit.commits.Add(1)
		s.metrics.observe(1, time.Since(start), err)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeTimeout bounds a write on PostgreSQL.
const writeTimeout = 30 * time.Second
