package storage

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/alerter/alerter/dispatch"
)

// NotificationLog returns the notification log's persister, backed by db.
func (s *DB) NotificationLog() dispatch.LogPersister { return nflog{s} }

type nflog struct{ s *DB }

// LoadNotificationLog implements dispatch.LogPersister.
func (n nflog) LoadNotificationLog(ctx context.Context) ([]dispatch.LogEntry, error) {
	rows, err := n.s.read.QueryContext(ctx, `SELECT key, firing, resolved, sent_at, expires_at, pending, pending_at, versions FROM notification_log`)
	if err != nil {
		return nil, fmt.Errorf("read notification log: %w", err)
	}
	out, err := scanLogEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("read notification log: %w", err)
	}
	return out, nil
}

// scanLogEntries reads rows of key, firing, resolved, sent_at, expires_at,
// pending, pending_at, versions, and closes them. A row that is a claim
// only (nothing notified yet) is left out.
func scanLogEntries(rows *sql.Rows) ([]dispatch.LogEntry, error) {
	defer rows.Close()
	var out []dispatch.LogEntry
	for rows.Next() {
		var (
			key string
			r   logRow
		)
		if err := rows.Scan(append([]any{&key}, r.dest()...)...); err != nil {
			return nil, err
		}
		e, err := r.entry(key)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, *e)
		}
	}
	return out, rows.Err()
}

// insertLogEntry writes an entry and, if its Release names the owner of
// the entry's claim (claims.go), ends the claim; another owner's claim is
// kept.
const insertLogEntry = `INSERT INTO notification_log (key, firing, resolved, sent_at, expires_at, pending, pending_at, versions)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET firing = excluded.firing,
	resolved = excluded.resolved, sent_at = excluded.sent_at, expires_at = excluded.expires_at,
	pending = excluded.pending, pending_at = excluded.pending_at, versions = excluded.versions,
	lease_until = CASE WHEN notification_log.owner = ? THEN 0 ELSE notification_log.lease_until END,
	owner = CASE WHEN notification_log.owner = ? THEN '' ELSE notification_log.owner END{touch}`

// SaveNotificationLog implements dispatch.LogPersister: one durable
// transaction, shared with concurrent writers.
func (n nflog) SaveNotificationLog(ctx context.Context, entries []dispatch.LogEntry, expiredBy time.Time) error {
	return n.s.Write(ctx, func(tx *sql.Tx) error {
		insert, err := n.s.stmt(tx, insertLogEntry)
		if err != nil {
			return err
		}
		for _, e := range entries {
			_, err := insert.Exec(e.Key, encodeFingerprints(e.Firing), encodeFingerprints(e.Resolved),
				toNanos(e.SentAt), e.ExpiresAt.UnixNano(), encodeFingerprints(e.Pending), toNanos(e.PendingAt),
				encodeVersions(e.Versions), e.Release, e.Release)
			if err != nil {
				return fmt.Errorf("write notification log: %w", err)
			}
		}
		if !expiredBy.IsZero() {
			if _, err := tx.Exec(n.s.q(`DELETE FROM notification_log WHERE expires_at <= ?`), expiredBy.UnixNano()); err != nil {
				return fmt.Errorf("delete from notification log: %w", err)
			}
		}
		return nil
	})
}

func encodeFingerprints(fps []uint64) []byte {
	b := make([]byte, 8*len(fps))
	for i, fp := range fps {
		binary.BigEndian.PutUint64(b[8*i:], fp)
	}
	return b
}

func decodeFingerprints(b []byte) ([]uint64, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("fingerprint list of %d bytes is not a multiple of 8", len(b))
	}
	fps := make([]uint64, len(b)/8)
	for i := range fps {
		fps[i] = binary.BigEndian.Uint64(b[8*i:])
	}
	return fps, nil
}

func encodeVersions(vs []int64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint64(b[8*i:], uint64(v))
	}
	return b
}

func decodeVersions(b []byte) ([]int64, error) {
	if len(b) == 0 {
		return nil, nil
	}
	fps, err := decodeFingerprints(b)
	if err != nil {
		return nil, fmt.Errorf("versions: %w", err)
	}
	vs := make([]int64, len(fps))
	for i, v := range fps {
		vs[i] = int64(v)
	}
	return vs, nil
}
