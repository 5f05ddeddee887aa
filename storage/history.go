package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/dispatch"
)

// Limits and defaults of the notification history.
const (
	// DefaultHistoryRetention is how long attempts are kept by default
	// (--data.retention).
	DefaultHistoryRetention = 120 * time.Hour
	// DefaultHistoryQueue is how many attempts may wait in memory for the
	// writer before Record drops them.
	DefaultHistoryQueue = 10000
	// DefaultHistoryLimit and MaxHistoryLimit bound what List returns.
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000

	// historyMaxAlerts caps the label sets stored per attempt; the total
	// is recorded as well.
	historyMaxAlerts = 100
	// historyBatch is the most rows written in one transaction.
	historyBatch = 1000
	// DefaultHistoryGCInterval is how often Run deletes attempts past
	// retention when HistoryOptions.GCInterval is zero.
	DefaultHistoryGCInterval = 15 * time.Minute
)

// RecordOptions configure a record written behind (the notification
// history, the alert events).
type RecordOptions struct {
	// Retention is how long entries are kept; 0 means
	// DefaultHistoryRetention.
	Retention time.Duration
	// GCInterval is how often Run deletes entries past the retention; 0
	// means DefaultHistoryGCInterval.
	GCInterval time.Duration
	// QueueSize bounds the entries waiting to be written; 0 means the
	// record's default (DefaultHistoryQueue, DefaultEventQueue).
	QueueSize int
	// Registerer, if set, gets the record's _dropped_total counter.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// HistoryOptions configure a History.
type HistoryOptions = RecordOptions

// withDefaults fills in what is zero; queue is the record's default queue.
func (o RecordOptions) withDefaults(queue int) RecordOptions {
	if o.Retention <= 0 {
		o.Retention = DefaultHistoryRetention
	}
	if o.GCInterval <= 0 {
		o.GCInterval = DefaultHistoryGCInterval
	}
	if o.QueueSize <= 0 {
		o.QueueSize = queue
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// History is the notification history: every delivery attempt, kept for
// the retention. It implements dispatch.History. Record is called on the
// delivery path: it only queues (see writeQueue).
type History struct {
	db        *DB
	retention time.Duration
	// gcInterval is how often Run deletes expired attempts.
	gcInterval time.Duration
	logger     *slog.Logger
	dropped    *prometheus.CounterVec
	q          *writeQueue[queuedAttempt]
}

// queuedAttempt is an attempt with its alerts capped and their total.
type queuedAttempt struct {
	a     dispatch.Attempt
	total int
}

// HistoryEntry is one recorded attempt.
type HistoryEntry struct {
	// ID grows with every attempt recorded.
	ID      int64
	Attempt dispatch.Attempt
	// AlertsTotal is how many alerts the notification carried; Alerts
	// holds at most the first 100 of them.
	AlertsTotal int
}

// HistoryFilter selects attempts for List; empty fields match everything.
type HistoryFilter struct {
	Receiver    string
	GroupKey    string
	Integration string
	// Status is "success", "failure" or "" (both).
	Status string
	// Limit is the most entries returned: 0 means DefaultHistoryLimit, and
	// more than MaxHistoryLimit means MaxHistoryLimit.
	Limit int
	// Before, if set, returns only attempts made before it.
	Before time.Time
}

// NewHistory returns the notification history kept in db. Run must run
// for attempts to be written.
func NewHistory(db *DB, opts HistoryOptions) *History {
	opts = opts.withDefaults(DefaultHistoryQueue)
	h := &History{
		db: db, retention: opts.Retention, gcInterval: opts.GCInterval, logger: opts.Logger,
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_notification_history_dropped_total",
			Help: "Delivery attempts not recorded in the notification history, by reason: queue_full (the writer fell behind) or write_error.",
		}, []string{"reason"}),
	}
	h.q = newWriteQueue(opts.QueueSize, historyBatch, "notification history", h.dropped, opts.Logger, h.write)
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(h.dropped)
	}
	return h
}

// Record implements dispatch.History: it queues a and returns at once.
// When the queue is full, a is dropped and counted.
func (h *History) Record(_ context.Context, a dispatch.Attempt) {
	q := queuedAttempt{a: a, total: len(a.Alerts)}
	if len(a.Alerts) > historyMaxAlerts {
		// A copy, so that the queue does not keep the rest alive.
		q.a.Alerts = slices.Clone(a.Alerts[:historyMaxAlerts])
	}
	h.q.add(q)
}

// Run writes queued attempts until ctx ends, then writes what is still
// queued. Every 15 minutes (and at the start) it deletes attempts older
// than the retention.
func (h *History) Run(ctx context.Context) { h.q.run(ctx, h.gcInterval, h.deleteExpiredLogged) }

// Flush writes every attempt queued now, and returns once they are
// durable. Attempts that fail to be written are dropped and counted.
func (h *History) Flush(ctx context.Context) error { return h.q.flush(ctx) }

// historyRow is an attempt encoded for its row.
type historyRow struct {
	q      *queuedAttempt
	alerts string
}

// write inserts batch in one transaction.
func (h *History) write(ctx context.Context, batch []queuedAttempt) error {
	rows := make([]historyRow, len(batch))
	for i := range batch {
		alerts, err := encodeLabelSets(batch[i].a.Alerts)
		if err != nil {
			return fmt.Errorf("encode notification history: %w", err)
		}
		rows[i] = historyRow{q: &batch[i], alerts: alerts}
	}
	err := h.db.Write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.Prepare(h.db.q(`INSERT INTO notification_history (at, duration_ns, receiver,
			integration, group_key, status, alerts, alerts_total, attempt, error, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rows {
			a := &r.q.a
			if _, err := stmt.Exec(a.At.UnixNano(), int64(a.Duration), a.Receiver, a.Integration,
				a.GroupKey, a.Status, r.alerts, r.q.total, a.Attempt, a.Err, a.Reason); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write notification history: %w", err)
	}
	return nil
}

// deleteExpired deletes the attempts made before now minus the retention.
func (h *History) deleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := h.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(h.db.q(`DELETE FROM notification_history WHERE at < ?`), now.Add(-h.retention).UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete from notification history: %w", err)
	}
	return n, nil
}

func (h *History) deleteExpiredLogged(ctx context.Context) {
	n, err := h.deleteExpired(ctx, time.Now())
	switch {
	case err != nil && ctx.Err() == nil:
		h.logger.Warn("Deleting old notification history failed", "err", err)
	case n > 0:
		h.logger.Debug("Deleted old notification history", "attempts", n)
	}
}

// List returns the recorded attempts that match f, newest first. Attempts
// recorded a moment ago may still be queued, and not listed yet.
func (h *History) List(ctx context.Context, f HistoryFilter) ([]HistoryEntry, error) {
	query, args, err := historyQuery(f)
	if err != nil {
		return nil, err
	}
	rows, err := h.db.read.QueryContext(ctx, h.db.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("read notification history: %w", err)
	}
	defer rows.Close()
	var out []HistoryEntry
	for rows.Next() {
		var (
			e            HistoryEntry
			a            = &e.Attempt
			at, duration int64
			alerts       string
		)
		if err := rows.Scan(&e.ID, &at, &duration, &a.Receiver, &a.Integration, &a.GroupKey, &a.Status,
			&alerts, &e.AlertsTotal, &a.Attempt, &a.Err, &a.Reason); err != nil {
			return nil, fmt.Errorf("read notification history: %w", err)
		}
		a.At, a.Duration = time.Unix(0, at), time.Duration(duration)
		if a.Alerts, err = decodeLabelSets(alerts); err != nil {
			return nil, fmt.Errorf("notification history entry %d: %w", e.ID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// historyQuery builds List's query for f.
func historyQuery(f HistoryFilter) (string, []any, error) {
	var (
		where []string
		args  []any
	)
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	eq("receiver", f.Receiver)
	eq("group_key", f.GroupKey)
	eq("integration", f.Integration)
	switch f.Status {
	case "":
	case "success":
		where = append(where, "error = ''")
	case "failure":
		where = append(where, "error != ''")
	default:
		return "", nil, fmt.Errorf("invalid status %q: want success or failure", f.Status)
	}
	if !f.Before.IsZero() {
		where = append(where, "at < ?")
		args = append(args, f.Before.UnixNano())
	}
	switch {
	case f.Limit < 0:
		return "", nil, fmt.Errorf("invalid limit %d: want a positive number", f.Limit)
	case f.Limit == 0:
		f.Limit = DefaultHistoryLimit
	case f.Limit > MaxHistoryLimit:
		f.Limit = MaxHistoryLimit
	}
	q := `SELECT id, at, duration_ns, receiver, integration, group_key, status, alerts,
		alerts_total, attempt, error, reason FROM notification_history`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY at DESC, id DESC LIMIT ?"
	return q, append(args, f.Limit), nil
}

// encodeLabelSets writes label sets as a JSON array of objects.
func encodeLabelSets(sets []model.LabelSet) (string, error) {
	if sets == nil {
		sets = []model.LabelSet{}
	}
	b, err := json.Marshal(sets)
	return string(b), err
}

// decodeLabelSets reads what encodeLabelSets wrote. Plain maps, because
// model.LabelSet's decoder judges names by a global setting.
func decodeLabelSets(s string) ([]model.LabelSet, error) {
	var raw []map[model.LabelName]model.LabelValue
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	out := make([]model.LabelSet, len(raw))
	for i, m := range raw {
		out[i] = model.LabelSet(m)
	}
	return out, nil
}

// ReceiverSummary is how a receiver's deliveries went: its last success,
// its last failure and why, and its attempts and failed attempts since a
// time.
type ReceiverSummary struct {
	Receiver                 string
	LastSuccess, LastFailure time.Time
	LastError, LastReason    string
	Attempts, Failures       int
}

// Summary returns the summary of each receiver, counting attempts since
// since. Each query walks the (receiver, at) index.
func (h *History) Summary(ctx context.Context, receivers []string, since time.Time) ([]ReceiverSummary, error) {
	out := make([]ReceiverSummary, 0, len(receivers))
	for _, rcv := range receivers {
		s := ReceiverSummary{Receiver: rcv}
		var at int64
		err := h.db.read.QueryRowContext(ctx, h.db.q(`SELECT at FROM notification_history WHERE receiver = ? AND error = ''
			ORDER BY at DESC LIMIT 1`), rcv).Scan(&at)
		switch {
		case err == nil:
			s.LastSuccess = time.Unix(0, at)
		case !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("read notification history: %w", err)
		}
		err = h.db.read.QueryRowContext(ctx, h.db.q(`SELECT at, error, reason FROM notification_history WHERE receiver = ? AND error != ''
			ORDER BY at DESC LIMIT 1`), rcv).Scan(&at, &s.LastError, &s.LastReason)
		switch {
		case err == nil:
			s.LastFailure = time.Unix(0, at)
		case !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("read notification history: %w", err)
		}
		err = h.db.read.QueryRowContext(ctx, h.db.q(`SELECT COUNT(*), COALESCE(SUM(CASE WHEN error != '' THEN 1 ELSE 0 END), 0)
			FROM notification_history WHERE receiver = ? AND at >= ?`), rcv, since.UnixNano()).Scan(&s.Attempts, &s.Failures)
		if err != nil {
			return nil, fmt.Errorf("read notification history: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}
