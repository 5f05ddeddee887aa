package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/alerter/alerter/dispatch"
)

// Claims let replicas sharing the database divide work: a claim is a row
// with an owner and a lease, taken by one conditional upsert (so exactly
// one claimant wins a row whose lease has run out), renewed by its owner,
// and ended by it or by the lease. Leases are measured by the database's
// clock, never a replica's: skew between replicas cannot make two claims
// valid at once.

// dbNow is the database's clock in Unix nanoseconds, as SQL.
func (s *DB) dbNow() string {
	if s.postgres {
		return `(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000000)::BIGINT`
	}
	return `CAST((julianday('now') - 2440587.5) * 86400000000000.0 AS INTEGER)`
}

// qNow is q with {now} replaced by the database's clock.
func (s *DB) qNow(query string) string {
	return s.q(strings.ReplaceAll(query, "{now}", s.dbNow()))
}

// Claims returns the notification log's claims, for replicas sharing db.
func (s *DB) Claims() dispatch.Claimer { return nflog{s} }

// ClaimNotification implements dispatch.Claimer: one statement takes the
// entry of key for owner if no other owner's lease runs, and returns the
// entry as the database holds it (the other replicas' notifications
// included).
func (n nflog) ClaimNotification(ctx context.Context, key, owner string, lease time.Duration, expiresAt time.Time) (dispatch.Claim, error) {
	s := n.s
	var c dispatch.Claim
	err := s.claimWrite(ctx, func(q querier) error {
		c = dispatch.Claim{}
		var r logRow
		err := q.QueryRowContext(ctx, s.qNow(`INSERT INTO notification_log (key, firing, resolved, sent_at, expires_at, pending, pending_at, owner, lease_until)
			VALUES (?, ?, ?, 0, ?, ?, 0, ?, {now} + ?)
			ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
			WHERE notification_log.lease_until < {now} OR notification_log.owner = excluded.owner
			RETURNING firing, resolved, sent_at, expires_at, pending, pending_at, versions`),
			key, []byte{}, []byte{}, expiresAt.UnixNano(), []byte{}, owner, lease.Nanoseconds()).Scan(r.dest()...)
		if errors.Is(err, sql.ErrNoRows) {
			// Another owner's lease runs: how much longer?
			var remaining int64
			if err := q.QueryRowContext(ctx, s.qNow(`SELECT owner, lease_until - {now} FROM notification_log WHERE key = ?`), key).
				Scan(&c.Holder, &remaining); err != nil {
				return fmt.Errorf("read the claim of %q: %w", key, err)
			}
			c.Remaining = time.Duration(remaining)
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim notification %q: %w", key, err)
		}
		c.Won = true
		c.Entry, err = r.entry(key)
		return err
	})
	return c, err
}

// PeekNotification implements dispatch.Claimer: the entry of key as the
// database holds it (nil if none) and its claim's holder and remaining
// lease; it claims nothing.
func (n nflog) PeekNotification(ctx context.Context, key string) (dispatch.Claim, error) {
	var (
		r         logRow
		c         dispatch.Claim
		remaining int64
	)
	err := n.s.read.QueryRowContext(ctx, n.s.qNow(`SELECT firing, resolved, sent_at, expires_at, pending, pending_at, versions,
		owner, lease_until - {now} FROM notification_log WHERE key = ?`), key).Scan(append(r.dest(), &c.Holder, &remaining)...)
	if errors.Is(err, sql.ErrNoRows) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read notification log entry %q: %w", key, err)
	}
	c.Remaining = time.Duration(remaining)
	c.Entry, err = r.entry(key)
	return c, err
}

// LogChangedSince implements dispatch.Claimer on PostgreSQL: the entries
// written since cursor (see changedSince), a claim without a notification
// left out.
func (n nflog) LogChangedSince(ctx context.Context, cursor int64) ([]dispatch.LogEntry, int64, error) {
	var out []dispatch.LogEntry
	next, err := n.s.changedSince(ctx, cursor, `SELECT key, firing, resolved, sent_at, expires_at, pending, pending_at, versions
		FROM notification_log WHERE txid >= $1`, func(rows *sql.Rows) (err error) {
		out, err = scanLogEntries(rows)
		return err
	})
	if err != nil {
		return nil, cursor, fmt.Errorf("read changed notification log entries: %w", err)
	}
	return out, next, nil
}

// logRow is a notification log row as claims read it.
type logRow struct {
	firing, resolved, pending, versions []byte
	sentAt, expires, pendingAt          int64
}

func (r *logRow) dest() []any {
	return []any{&r.firing, &r.resolved, &r.sentAt, &r.expires, &r.pending, &r.pendingAt, &r.versions}
}

// entry decodes the row; nil for a row that is a claim only (nothing was
// notified yet).
func (r *logRow) entry(key string) (*dispatch.LogEntry, error) {
	if r.sentAt == 0 && len(r.firing) == 0 && len(r.resolved) == 0 && len(r.pending) == 0 {
		return nil, nil
	}
	e := dispatch.LogEntry{Key: key, SentAt: fromNanos(r.sentAt), ExpiresAt: time.Unix(0, r.expires), PendingAt: fromNanos(r.pendingAt)}
	var err error
	if e.Firing, err = decodeFingerprints(r.firing); err != nil {
		return nil, fmt.Errorf("notification log entry %q: %w", key, err)
	}
	if e.Resolved, err = decodeFingerprints(r.resolved); err != nil {
		return nil, fmt.Errorf("notification log entry %q: %w", key, err)
	}
	if e.Pending, err = decodeFingerprints(r.pending); err != nil {
		return nil, fmt.Errorf("notification log entry %q: %w", key, err)
	}
	if len(e.Pending) == 0 {
		e.Pending = nil
	}
	if e.Versions, err = decodeVersions(r.versions); err != nil {
		return nil, fmt.Errorf("notification log entry %q: %w", key, err)
	}
	return &e, nil
}

// querier is what claims run their statements on: a transaction, or the
// fast pool.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// claimWrite runs f on PostgreSQL's fast pool, statement by statement
// (each its own transaction; f's statements need not be atomic together),
// and on SQLite as a write of the group commit. The caller's context
// bounds it.
func (s *DB) claimWrite(ctx context.Context, f func(querier) error) error {
	if s.fast != nil {
		return f(s.fast)
	}
	return s.Write(ctx, func(tx *sql.Tx) error { return f(tx) })
}

// fastWrite runs f in a transaction of PostgreSQL's fast pool (a write
// whose loss in a crash is harmless: claims, leases, heartbeats), and on
// SQLite as a write of the group commit.
func (s *DB) fastWrite(ctx context.Context, f func(*sql.Tx) error) error {
	if s.fast != nil {
		return txOn(ctx, s.fast, f)
	}
	return s.Write(ctx, f)
}

// fastRead is the pool that reads the replicas' coordination (who is
// alive, who holds which lease): PostgreSQL's fast pool, so that it does
// not queue behind the durable writes of a busy replica.
func (s *DB) fastRead() *sql.DB {
	if s.fast != nil {
		return s.fast
	}
	return s.read
}

// RenewNotification implements dispatch.Claimer: it extends owner's lease
// on key, and reports false if owner does not hold it any more.
func (n nflog) RenewNotification(ctx context.Context, key, owner string, lease time.Duration) (bool, error) {
	s := n.s
	renewed := false
	err := s.claimWrite(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.qNow(`UPDATE notification_log SET lease_until = {now} + ? WHERE key = ? AND owner = ?`),
			lease.Nanoseconds(), key, owner)
		if err != nil {
			return fmt.Errorf("renew the claim of %q: %w", key, err)
		}
		rows, err := res.RowsAffected()
		renewed = rows == 1
		return err
	})
	return renewed, err
}

// Lease is a rule group's lease, as GroupLeases reads it.
type Lease struct {
	Key, Owner string
	// Remaining is how long the lease still runs by the database's
	// clock; not positive when it has run out.
	Remaining time.Duration
}

// GroupLeases returns every rule group lease, by key.
func (s *DB) GroupLeases(ctx context.Context) ([]Lease, error) {
	rows, err := s.fastRead().QueryContext(ctx, s.qNow(`SELECT group_key, owner, lease_until - {now} FROM group_leases ORDER BY group_key`))
	if err != nil {
		return nil, fmt.Errorf("read group leases: %w", err)
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		var (
			l         Lease
			remaining int64
		)
		if err := rows.Scan(&l.Key, &l.Owner, &remaining); err != nil {
			return nil, fmt.Errorf("read group leases: %w", err)
		}
		l.Remaining = time.Duration(remaining)
		out = append(out, l)
	}
	return out, rows.Err()
}

// TakeGroupLeases takes or renews, for owner, the leases of take whose
// lease is owner's or has run out, and gives up those of release that
// owner holds, in one transaction. It returns the keys of take that owner
// holds now, for lease from when the statement ran.
func (s *DB) TakeGroupLeases(ctx context.Context, owner string, take, release []string, lease time.Duration) ([]string, error) {
	// Every row in key order: replicas taking and giving up the same
	// groups at once lock them in one order, and cannot deadlock.
	keys := make([]string, 0, len(take)+len(release))
	keys = append(append(keys, take...), release...)
	slices.Sort(keys)
	releasing := make(map[string]bool, len(release))
	for _, k := range release {
		releasing[k] = true
	}
	var held []string
	err := s.fastWrite(ctx, func(tx *sql.Tx) error {
		held = held[:0]
		for _, key := range keys {
			if releasing[key] {
				// Free from now: the replica that wants it takes it at
				// once; the others wait as for any lease that ran out.
				if _, err := tx.Exec(s.qNow(`UPDATE group_leases SET owner = '', lease_until = {now} WHERE group_key = ? AND owner = ?`), key, owner); err != nil {
					return fmt.Errorf("release the lease of group %q: %w", key, err)
				}
				continue
			}
			var got string
			err := tx.QueryRow(s.qNow(`INSERT INTO group_leases (group_key, owner, lease_until) VALUES (?, ?, {now} + ?)
				ON CONFLICT (group_key) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
				WHERE group_leases.lease_until < {now} OR group_leases.owner = excluded.owner
				RETURNING group_key`), key, owner, lease.Nanoseconds()).Scan(&got)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return fmt.Errorf("take the lease of group %q: %w", key, err)
			default:
				held = append(held, key)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return held, nil
}

// txOn runs f in a transaction on db, committed if f succeeds.
func txOn(ctx context.Context, db *sql.DB, f func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
