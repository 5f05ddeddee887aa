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
	err := s.Write(ctx, func(tx *sql.Tx) error {
		c = dispatch.Claim{}
		var (
			firing, resolved, pending  []byte
			versions                   []byte
			sentAt, expires, pendingAt int64
		)
		err := tx.QueryRow(s.qNow(`INSERT INTO notification_log (key, firing, resolved, sent_at, expires_at, pending, pending_at, owner, lease_until)
			VALUES (?, ?, ?, 0, ?, ?, 0, ?, {now} + ?)
			ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
			WHERE notification_log.lease_until < {now} OR notification_log.owner = excluded.owner
			RETURNING firing, resolved, sent_at, expires_at, pending, pending_at, versions`),
			key, []byte{}, []byte{}, expiresAt.UnixNano(), []byte{}, owner, lease.Nanoseconds()).
			Scan(&firing, &resolved, &sentAt, &expires, &pending, &pendingAt, &versions)
		if errors.Is(err, sql.ErrNoRows) {
			// Another owner's lease runs: how much longer?
			var remaining int64
			if err := tx.QueryRow(s.qNow(`SELECT owner, lease_until - {now} FROM notification_log WHERE key = ?`), key).
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
		if sentAt == 0 && len(firing) == 0 && len(resolved) == 0 && len(pending) == 0 {
			return nil // no notification yet: the row is the claim only
		}
		e := dispatch.LogEntry{Key: key, SentAt: fromNanos(sentAt), ExpiresAt: time.Unix(0, expires), PendingAt: fromNanos(pendingAt)}
		if e.Firing, err = decodeFingerprints(firing); err != nil {
			return fmt.Errorf("notification log entry %q: %w", key, err)
		}
		if e.Resolved, err = decodeFingerprints(resolved); err != nil {
			return fmt.Errorf("notification log entry %q: %w", key, err)
		}
		if e.Pending, err = decodeFingerprints(pending); err != nil {
			return fmt.Errorf("notification log entry %q: %w", key, err)
		}
		if len(e.Pending) == 0 {
			e.Pending = nil
		}
		if e.Versions, err = decodeVersions(versions); err != nil {
			return fmt.Errorf("notification log entry %q: %w", key, err)
		}
		c.Entry = &e
		return nil
	})
	return c, err
}

// RenewNotification implements dispatch.Claimer: it extends owner's lease
// on key, and reports false if owner does not hold it any more.
func (n nflog) RenewNotification(ctx context.Context, key, owner string, lease time.Duration) (bool, error) {
	s := n.s
	renewed := false
	err := s.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(s.qNow(`UPDATE notification_log SET lease_until = {now} + ? WHERE key = ? AND owner = ?`),
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
	rows, err := s.read.QueryContext(ctx, s.qNow(`SELECT group_key, owner, lease_until - {now} FROM group_leases ORDER BY group_key`))
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
	var held []string
	err := s.Write(ctx, func(tx *sql.Tx) error {
		held = held[:0]
		for _, key := range keys {
			if slices.Contains(release, key) {
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
