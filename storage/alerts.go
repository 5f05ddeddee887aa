package storage

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/dispatch"
)

// Alerts returns the alert store's persister, backed by db.
func (s *DB) Alerts() dispatch.AlertPersister { return alerts{s} }

// AlertSource returns the reader of the alerts other replicas wrote.
func (s *DB) AlertSource() dispatch.AlertSource { return alerts{s} }

type alerts struct{ s *DB }

// alertsSavedAt is the meta key of when the alert store was last saved.
const alertsSavedAt = "alerts_saved_at"

// LoadAlerts implements dispatch.AlertPersister.
func (p alerts) LoadAlerts(ctx context.Context) ([]*dispatch.Alert, time.Time, error) {
	var savedAt int64
	err := p.s.read.QueryRowContext(ctx, p.s.q(`SELECT value FROM meta WHERE key = ?`), alertsSavedAt).Scan(&savedAt)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, err
	}
	rows, err := p.s.read.QueryContext(ctx, `SELECT labels, annotations, starts_at, ends_at, updated_at, timeout, generator_url FROM alerts`)
	if err != nil {
		return nil, time.Time{}, err
	}
	out, err := scanAlerts(rows)
	if err != nil {
		return nil, time.Time{}, err
	}
	return out, fromNanos(savedAt), nil
}

// AlertsChangedSince implements dispatch.AlertSource on PostgreSQL: the
// alerts written since cursor (see changedSince); on SQLite, which one
// process holds, nothing.
func (p alerts) AlertsChangedSince(ctx context.Context, cursor int64) ([]*dispatch.Alert, int64, error) {
	var out []*dispatch.Alert
	next, err := p.s.changedSince(ctx, cursor, `SELECT labels, annotations, starts_at, ends_at, updated_at, timeout, generator_url
		FROM alerts WHERE txid >= $1`, func(rows *sql.Rows) (err error) {
		out, err = scanAlerts(rows)
		return err
	})
	if err != nil {
		return nil, cursor, fmt.Errorf("read changed alerts: %w", err)
	}
	return out, next, nil
}

// changedSince runs query, which selects the rows of a table written by
// transactions from $1 (their IDs, in the column txid that {touch} sets)
// on, with cursor as $1, and hands its rows to scan, which closes them. It
// returns as the next cursor the oldest transaction still running: every
// older one has ended, so no write is missed whatever order the writers
// commit in; those from it on are read again next time (the readers skip
// what they hold). On SQLite it does nothing.
func (s *DB) changedSince(ctx context.Context, cursor int64, query string, scan func(*sql.Rows) error) (int64, error) {
	if !s.postgres {
		return cursor, nil
	}
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return cursor, err
	}
	defer func() { _ = tx.Rollback() }()
	var next int64
	if err := tx.QueryRowContext(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&next); err != nil {
		return cursor, err
	}
	rows, err := tx.QueryContext(ctx, query, cursor)
	if err != nil {
		return cursor, err
	}
	if err := scan(rows); err != nil {
		return cursor, err
	}
	return next, nil
}

// scanAlerts reads rows of labels, annotations, starts_at, ends_at,
// updated_at, timeout, generator_url, and closes them.
func scanAlerts(rows *sql.Rows) ([]*dispatch.Alert, error) {
	defer rows.Close()
	var out []*dispatch.Alert
	for rows.Next() {
		var (
			a                 dispatch.Alert
			lbls, anns        string
			starts, ends, upd int64
			timeout           bool
		)
		if err := rows.Scan(&lbls, &anns, &starts, &ends, &upd, &timeout, &a.GeneratorURL); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(lbls), &a.Labels); err != nil {
			return nil, fmt.Errorf("alert labels %q: %w", lbls, err)
		}
		if err := json.Unmarshal([]byte(anns), &a.Annotations); err != nil {
			return nil, fmt.Errorf("annotations of alert %s: %w", a.Labels, err)
		}
		a.StartsAt, a.EndsAt, a.UpdatedAt, a.Timeout = fromNanos(starts), fromNanos(ends), fromNanos(upd), timeout
		out = append(out, &a)
	}
	return out, rows.Err()
}

// alertsPerInsert is how many alerts one INSERT writes (8 parameters each,
// far below either database's limit).
const alertsPerInsert = 100

// SaveAlerts implements dispatch.AlertPersister: one durable transaction,
// shared with concurrent writers.
func (p alerts) SaveAlerts(ctx context.Context, upsert []*dispatch.Alert, deleted []model.Fingerprint, savedAt time.Time) error {
	// In fingerprint order: replicas write the same alerts, and rows
	// locked in one order by all cannot deadlock.
	slices.SortFunc(upsert, func(a, b *dispatch.Alert) int { return cmp.Compare(int64(a.Fingerprint()), int64(b.Fingerprint())) })
	slices.SortFunc(deleted, func(a, b model.Fingerprint) int { return cmp.Compare(int64(a), int64(b)) })
	return p.s.Write(ctx, func(tx *sql.Tx) error {
		// Rows of alertsPerInsert at a time: on PostgreSQL each statement
		// is a round trip, and 10,000 alerts are 100 statements, not 10,000.
		// The store hands each fingerprint once.
		for chunk := range slices.Chunk(upsert, alertsPerInsert) {
			args := make([]any, 0, 8*len(chunk))
			for _, a := range chunk {
				lbls, _ := json.Marshal(a.Labels) // maps of strings always encode
				anns, _ := json.Marshal(a.Annotations)
				args = append(args, int64(a.Fingerprint()), string(lbls), string(anns), toNanos(a.StartsAt),
					toNanos(a.EndsAt), toNanos(a.UpdatedAt), a.Timeout, a.GeneratorURL)
			}
			rows := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?), ", len(chunk)), ", ")
			if _, err := tx.Exec(p.s.q(`INSERT INTO alerts (fingerprint, labels, annotations, starts_at,
				ends_at, updated_at, timeout, generator_url) VALUES `+rows+`
				ON CONFLICT (fingerprint) DO UPDATE SET labels = excluded.labels, annotations = excluded.annotations,
				starts_at = excluded.starts_at, ends_at = excluded.ends_at, updated_at = excluded.updated_at,
				timeout = excluded.timeout, generator_url = excluded.generator_url{touch}`), args...); err != nil {
				return fmt.Errorf("save %d alerts: %w", len(chunk), err)
			}
		}
		for _, fp := range deleted {
			if _, err := tx.Exec(p.s.q(`DELETE FROM alerts WHERE fingerprint = ?`), int64(fp)); err != nil {
				return err
			}
		}
		_, err := tx.Exec(p.s.q(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`), alertsSavedAt, toNanos(savedAt))
		return err
	})
}
