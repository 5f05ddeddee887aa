package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Replica is one alerter process using the database, as it last said.
type Replica struct {
	ID        string
	Address   string // where its API answers
	StartedAt time.Time
	SeenAt    time.Time // its last heartbeat, by its own clock
}

// Heartbeat records that r is alive at r.SeenAt and, in the same
// transaction, deletes the replicas silent since before forgetBefore. On
// PostgreSQL it goes through the fast pool: a heartbeat must not wait
// behind a busy replica's durable writes, or the others take it for dead.
func (s *DB) Heartbeat(ctx context.Context, r Replica, forgetBefore time.Time) error {
	return s.fastWrite(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(s.q(`DELETE FROM replicas WHERE seen_at < ?`), toNanos(forgetBefore)); err != nil {
			return fmt.Errorf("forget replicas: %w", err)
		}
		_, err := tx.Exec(s.q(`INSERT INTO replicas (id, address, started_at, seen_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET address = excluded.address, started_at = excluded.started_at,
			seen_at = excluded.seen_at`), r.ID, r.Address, toNanos(r.StartedAt), toNanos(r.SeenAt))
		return err
	})
}

// Replicas returns the replicas heard from at or after since, by ID.
func (s *DB) Replicas(ctx context.Context, since time.Time) ([]Replica, error) {
	rows, err := s.fastRead().QueryContext(ctx, s.q(`SELECT id, address, started_at, seen_at FROM replicas WHERE seen_at >= ? ORDER BY id`), toNanos(since))
	if err != nil {
		return nil, fmt.Errorf("read replicas: %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		var (
			r               Replica
			started, seenAt int64
		)
		if err := rows.Scan(&r.ID, &r.Address, &started, &seenAt); err != nil {
			return nil, fmt.Errorf("read replicas: %w", err)
		}
		r.StartedAt, r.SeenAt = fromNanos(started), fromNanos(seenAt)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Leave removes replica id, which is stopping.
func (s *DB) Leave(ctx context.Context, id string) error {
	return s.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(s.q(`DELETE FROM replicas WHERE id = ?`), id)
		return err
	})
}
