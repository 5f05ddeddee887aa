package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// copiedTables are the tables Copy moves, with their columns (the same in
// both schemas; notification_history's id is left to the destination,
// which numbers the rows in the source's order).
var copiedTables = []struct {
	name, order string
	columns     []string
}{
	{"silences", "id", []string{"id", "matchers", "starts_at", "ends_at", "updated_at", "created_by", "comment", "replaces"}},
	{"notification_log", "key", []string{"key", "firing", "resolved", "sent_at", "expires_at", "pending", "pending_at", "versions"}},
	{"alert_states", "group_key, rule_key, labels", []string{"group_key", "rule_key", "labels", "annotations", "state", "value",
		"active_at", "fired_at", "resolved_at", "last_sent_at", "valid_until", "keep_firing_since"}},
	{"alerts", "fingerprint", []string{"fingerprint", "labels", "annotations", "starts_at", "ends_at", "updated_at", "timeout", "generator_url"}},
	{"meta", "key", []string{"key", "value"}},
	{"notification_history", "id", []string{"at", "duration_ns", "receiver", "integration", "group_key", "status", "alerts",
		"alerts_total", "attempt", "error", "reason"}},
	{"alert_events", "id", []string{"at", "fingerprint", "kind", "group_key", "receiver", "integration", "data"}},
	{"alert_event_labels", "fingerprint", []string{"fingerprint", "labels", "seen_at"}},
}

// CopyCounts is how many rows Copy moved, by table.
type CopyCounts map[string]int

// Copy copies every row of from's state (silences, notification log, alert
// states, the alert store and the notification history) into to, which
// must hold none, in one transaction of to: after an error to holds
// nothing of it.
func Copy(ctx context.Context, from, to *DB) (CopyCounts, error) {
	for _, t := range copiedTables {
		var n int
		if err := to.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&n); err != nil {
			return nil, fmt.Errorf("%s: %w", to.Path(), err)
		}
		if n > 0 {
			return nil, fmt.Errorf("%s already holds state (%d rows in %s): copy into an empty database", to.Path(), n, t.name)
		}
	}
	counts := CopyCounts{}
	err := to.tx(ctx, func(tx *sql.Tx) error {
		for _, t := range copiedTables {
			n, err := copyTable(ctx, from, to, tx, t.name, t.order, t.columns)
			if err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
			counts[t.name] = n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

func copyTable(ctx context.Context, from, to *DB, tx *sql.Tx, table, order string, columns []string) (int, error) {
	cols := strings.Join(columns, ", ")
	rows, err := from.read.QueryContext(ctx, `SELECT `+cols+` FROM `+table+` ORDER BY `+order)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ")
	insert, err := tx.PrepareContext(ctx, to.q(`INSERT INTO `+table+` (`+cols+`) VALUES (`+marks+`)`))
	if err != nil {
		return 0, err
	}
	defer insert.Close()
	vals := make([]any, len(columns))
	ptrs := make([]any, len(columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, c := range columns {
			vals[i] = convert(vals[i], c, to.postgres)
		}
		if _, err := insert.ExecContext(ctx, vals...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// convert adapts a value read from one database to the other's column:
// alerts.timeout is an integer in SQLite and a boolean in PostgreSQL.
func convert(v any, column string, toPostgres bool) any {
	switch column {
	case "firing", "resolved", "pending", "versions":
		if b, ok := v.([]byte); v == nil || (ok && b == nil) {
			return []byte{} // SQLite reads an empty blob as NULL
		}
		return v
	case "timeout":
	default:
		return v
	}
	switch x := v.(type) {
	case int64:
		if toPostgres {
			return x != 0
		}
	case bool:
		if !toPostgres {
			if x {
				return int64(1)
			}
			return int64(0)
		}
	}
	return v
}
