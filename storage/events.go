package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/dispatch"
)

// Limits of the alert events.
const (
	// DefaultEventQueue is how many events may wait for the writer before
	// RecordEvents drops them.
	DefaultEventQueue = 50000
	// eventBatch is the most events written in one transaction, and
	// eventLinger how long the writer gathers events before it writes
	// (unless a batch is there): a timeline lags by about that much.
	eventBatch  = 500
	eventLinger = time.Second
	// eventsLastMax bounds the alerts whose last events RecordEvents
	// remembers (for dispatch.Event.Quiet); past it, it forgets them all.
	eventsLastMax = 200000
	// MaxTimelineAlerts is the most alerts one timeline query returns, and
	// MaxTimelineEvents the most events of each (the newest).
	MaxTimelineAlerts = 100
	MaxTimelineEvents = 2000
)

// EventsOptions configure Events.
type EventsOptions = RecordOptions

// Events keeps what happened to each alert (dispatch.Event) for the
// retention: the timelines of GET /api/v1/alerts/timeline. It implements
// dispatch.EventRecorder. An event that repeats the last one of its alert,
// receiver and integration within its Quiet is not kept: a silenced alert
// costs a row per repeat_interval, not one per flush.
type Events struct {
	db         *DB
	retention  time.Duration
	gcInterval time.Duration
	logger     *slog.Logger
	dropped    *prometheus.CounterVec
	q          *writeQueue[dispatch.Event]

	mu sync.Mutex
	// last holds, by alert, and receiver and integration, the signature
	// and time of the last event kept.
	last map[model.Fingerprint]map[string]lastEvent
	// labelsAt holds when each alert's labels row was last written, so
	// that it is written (its seen_at moved) at most once per
	// labelsRefresh; only the writer uses it.
	labelsAt      map[model.Fingerprint]time.Time
	labelsRefresh time.Duration
}

// labelsRefresh is how often, at most, an alert's labels row has its
// seen_at moved (a quarter of the retention if that is shorter): the row
// may go that long before the alert's last event does.
const labelsRefresh = time.Hour

type lastEvent struct {
	sig uint64
	at  time.Time
}

// NewEvents returns the alert events kept in db. Run must run for events
// to be written.
func NewEvents(db *DB, opts EventsOptions) *Events {
	opts = opts.withDefaults(DefaultEventQueue)
	e := &Events{
		db: db, retention: opts.Retention, gcInterval: opts.GCInterval, logger: opts.Logger,
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alerter_alert_events_dropped_total",
			Help: "Alert events (the alerts' timelines) not recorded, by reason: queue_full (the writer fell behind) or write_error.",
		}, []string{"reason"}),
		last:     map[model.Fingerprint]map[string]lastEvent{},
		labelsAt: map[model.Fingerprint]time.Time{}, labelsRefresh: min(labelsRefresh, opts.Retention/4),
	}
	e.q = newWriteQueue(opts.QueueSize, eventBatch, "alert events", e.dropped, opts.Logger, e.write)
	e.q.linger = eventLinger
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(e.dropped)
	}
	return e
}

// RecordEvents implements dispatch.EventRecorder: it queues the events
// that are not quiet repeats, and returns at once.
func (e *Events) RecordEvents(_ context.Context, events []dispatch.Event) {
	kept := events[:0:0]
	e.mu.Lock()
	for i := range events {
		ev := &events[i]
		if ev.Receiver == "" {
			// An evaluation: the alert starts or ends a new episode.
			delete(e.last, ev.Fingerprint)
			kept = append(kept, *ev)
			continue
		}
		where := ev.Receiver + "\x00" + ev.Integration
		sig := ev.Signature()
		byWhere := e.last[ev.Fingerprint]
		if prev, ok := byWhere[where]; ok && ev.Quiet > 0 && prev.sig == sig && ev.At.Sub(prev.at) < ev.Quiet {
			continue
		}
		if byWhere == nil {
			if len(e.last) >= eventsLastMax {
				clear(e.last)
			}
			byWhere = map[string]lastEvent{}
			e.last[ev.Fingerprint] = byWhere
		}
		// A receiver's event (muted, silenced, inhibited) and one of its
		// integrations end each other's runs, as in the dispatcher.
		for w := range byWhere {
			if r, i, _ := strings.Cut(w, "\x00"); r == ev.Receiver && (i == "") != (ev.Integration == "") {
				delete(byWhere, w)
			}
		}
		byWhere[where] = lastEvent{sig: sig, at: ev.At}
		kept = append(kept, *ev)
	}
	e.mu.Unlock()
	if len(kept) > 0 {
		e.q.add(kept...)
	}
}

// Run writes queued events until ctx ends, then writes what is still
// queued; every GCInterval it deletes the events past the retention.
func (e *Events) Run(ctx context.Context) { e.q.run(ctx, e.gcInterval, e.deleteExpiredLogged) }

// Flush writes every event queued now.
func (e *Events) Flush(ctx context.Context) error { return e.q.flush(ctx) }

// eventData is what an event's data column holds.
type eventData struct {
	Rule      string    `json:"rule,omitempty"`
	Value     string    `json:"value,omitempty"`
	Status    string    `json:"status,omitempty"`
	Attempts  int       `json:"attempts,omitempty"`
	Error     string    `json:"error,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Silences  []string  `json:"silences,omitempty"`
	Inhibitor string    `json:"inhibitor,omitempty"`
	Intervals []string  `json:"intervals,omitempty"`
	SentAt    time.Time `json:"sentAt,omitzero"`
}

// zero reports whether d holds nothing (a routed event's data).
func (d eventData) zero() bool {
	return d.Rule == "" && d.Value == "" && d.Status == "" && d.Attempts == 0 && d.Error == "" && d.Reason == "" &&
		len(d.Silences) == 0 && d.Inhibitor == "" && len(d.Intervals) == 0 && d.SentAt.IsZero()
}

func toEventData(ev *dispatch.Event) eventData {
	return eventData{Rule: ev.Rule, Value: ev.Value, Status: ev.Status, Attempts: ev.Attempts, Error: ev.Error,
		Reason: ev.Reason, Silences: ev.Silences, Inhibitor: ev.Inhibitor, Intervals: ev.Intervals, SentAt: ev.SentAt}
}

func (d eventData) fill(ev *dispatch.Event) {
	ev.Rule, ev.Value, ev.Status, ev.Attempts, ev.Error = d.Rule, d.Value, d.Status, d.Attempts, d.Error
	ev.Reason, ev.Silences, ev.Inhibitor, ev.Intervals, ev.SentAt = d.Reason, d.Silences, d.Inhibitor, d.Intervals, d.SentAt
}

// write inserts batch, and the labels of its alerts not known yet, in one
// transaction.
func (e *Events) write(ctx context.Context, batch []dispatch.Event) error {
	events := make([]any, 0, 7*len(batch))
	seen := map[model.Fingerprint]int{} // the index of each alert's last event
	for i := range batch {
		ev := &batch[i]
		data := "{}"
		if d := toEventData(ev); !d.zero() {
			b, err := json.Marshal(d)
			if err != nil {
				return fmt.Errorf("encode alert event: %w", err)
			}
			data = string(b)
		}
		events = append(events, ev.At.UnixNano(), int64(ev.Fingerprint), ev.Kind, ev.GroupKey, ev.Receiver, ev.Integration, data)
		seen[ev.Fingerprint] = i
	}
	fps := make([]model.Fingerprint, 0, len(seen))
	for fp, i := range seen {
		if at, ok := e.labelsAt[fp]; !ok || batch[i].At.Sub(at) >= e.labelsRefresh || batch[i].At.Before(at) {
			fps = append(fps, fp)
		}
	}
	slices.Sort(fps) // the same order in every writer: no deadlock between replicas
	labels := make([]any, 0, 3*len(fps))
	for _, fp := range fps {
		ev := &batch[seen[fp]]
		ls, err := json.Marshal(ev.Labels)
		if err != nil {
			return fmt.Errorf("encode alert labels: %w", err)
		}
		labels = append(labels, int64(fp), string(ls), ev.At.UnixNano())
	}
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		if err := e.insertRows(tx, `INSERT INTO alert_events (at, fingerprint, kind, group_key, receiver, integration, data) VALUES `, "", 7, events); err != nil {
			return err
		}
		return e.insertRows(tx, `INSERT INTO alert_event_labels (fingerprint, labels, seen_at) VALUES `,
			` ON CONFLICT (fingerprint) DO UPDATE SET seen_at = excluded.seen_at`, 3, labels)
	})
	if err != nil {
		return fmt.Errorf("write alert events: %w", err)
	}
	if len(e.labelsAt) > eventsLastMax {
		clear(e.labelsAt)
	}
	for _, fp := range fps {
		e.labelsAt[fp] = batch[seen[fp]].At
	}
	return nil
}

// rowsPerInsert is how many rows one INSERT statement carries: one
// statement per row would cost more than the rows themselves.
const rowsPerInsert = 100

// insertRows inserts args, cols values a row, rowsPerInsert rows a
// statement: insert, then the rows' placeholders, then suffix.
func (e *Events) insertRows(tx *sql.Tx, insert, suffix string, cols int, args []any) error {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	for len(args) > 0 {
		n := min(len(args)/cols, rowsPerInsert)
		query := insert + row + strings.Repeat(", "+row, n-1) + suffix
		if _, err := tx.Exec(e.db.q(query), args[:n*cols]...); err != nil {
			return err
		}
		args = args[n*cols:]
	}
	return nil
}

// deleteExpired deletes the events, and the labels of alerts with no
// event, older than the retention before now; and forgets the last events
// as old.
func (e *Events) deleteExpired(ctx context.Context, now time.Time) (int64, error) {
	cut := now.Add(-e.retention)
	e.mu.Lock()
	for fp, byWhere := range e.last {
		for where, l := range byWhere {
			if l.at.Before(cut) {
				delete(byWhere, where)
			}
		}
		if len(byWhere) == 0 {
			delete(e.last, fp)
		}
	}
	e.mu.Unlock()
	var n int64
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(e.db.q(`DELETE FROM alert_events WHERE at < ?`), cut.UnixNano())
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.Exec(e.db.q(`DELETE FROM alert_event_labels WHERE seen_at < ?`), cut.UnixNano())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete old alert events: %w", err)
	}
	return n, nil
}

func (e *Events) deleteExpiredLogged(ctx context.Context) {
	n, err := e.deleteExpired(ctx, time.Now())
	switch {
	case err != nil && ctx.Err() == nil:
		e.logger.Warn("Deleting old alert events failed", "err", err)
	case n > 0:
		e.logger.Debug("Deleted old alert events", "events", n)
	}
}

// TimelineQuery selects alerts for Timeline: by fingerprint, or by
// matchers on the labels of the alerts with events since Since.
type TimelineQuery struct {
	Fingerprints []model.Fingerprint
	Matchers     labels.Matchers
	// Since, if set, leaves older events out.
	Since time.Time
}

// AlertTimeline is the recorded events of one alert, oldest first.
type AlertTimeline struct {
	Fingerprint model.Fingerprint
	Labels      model.LabelSet
	Events      []dispatch.Event
	// Truncated is set when older events were left out (MaxTimelineEvents).
	Truncated bool
}

// Timeline returns the events of the alerts q selects, the alerts seen
// most recently first, at most MaxTimelineAlerts of them; more reports
// whether more alerts matched.
func (e *Events) Timeline(ctx context.Context, q TimelineQuery) (out []AlertTimeline, more bool, err error) {
	type found struct {
		fp     model.Fingerprint
		labels model.LabelSet
		seen   int64
	}
	var alerts []found
	if len(q.Fingerprints) > 0 {
		for _, fp := range q.Fingerprints {
			var ls string
			var seen int64
			err := e.db.read.QueryRowContext(ctx, e.db.q(`SELECT labels, seen_at FROM alert_event_labels WHERE fingerprint = ?`), int64(fp)).Scan(&ls, &seen)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return nil, false, fmt.Errorf("read alert events: %w", err)
			}
			set, err := decodeLabelSet(ls)
			if err != nil {
				return nil, false, fmt.Errorf("alert %s: %w", fp, err)
			}
			alerts = append(alerts, found{fp, set, seen})
		}
	} else {
		// Equality matchers narrow the scan in the database: the JSON of
		// a label set holds "name":"value" (a superset; Go decides).
		query, args := `SELECT fingerprint, labels, seen_at FROM alert_event_labels WHERE seen_at >= ?`, []any{q.Since.UnixNano()}
		contains := "instr(labels, ?) > 0"
		if e.db.postgres {
			contains = "strpos(labels, ?) > 0"
		}
		for _, m := range q.Matchers {
			if m.Type != labels.MatchEqual || m.Value == "" {
				continue
			}
			pair, err := json.Marshal(map[string]string{m.Name: m.Value})
			if err != nil {
				return nil, false, err
			}
			query += " AND " + contains
			args = append(args, strings.TrimSuffix(strings.TrimPrefix(string(pair), "{"), "}"))
		}
		rows, err := e.db.read.QueryContext(ctx, e.db.q(query), args...)
		if err != nil {
			return nil, false, fmt.Errorf("read alert events: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				fp   int64
				ls   string
				seen int64
			)
			if err := rows.Scan(&fp, &ls, &seen); err != nil {
				return nil, false, fmt.Errorf("read alert events: %w", err)
			}
			set, err := decodeLabelSet(ls)
			if err != nil {
				return nil, false, fmt.Errorf("alert %s: %w", model.Fingerprint(fp), err)
			}
			if q.Matchers.Matches(set) {
				alerts = append(alerts, found{model.Fingerprint(fp), set, seen})
			}
		}
		if err := rows.Err(); err != nil {
			return nil, false, fmt.Errorf("read alert events: %w", err)
		}
		rows.Close()
	}
	sort.Slice(alerts, func(i, j int) bool { return alerts[i].seen > alerts[j].seen })
	if len(alerts) > MaxTimelineAlerts {
		alerts, more = alerts[:MaxTimelineAlerts], true
	}
	for _, a := range alerts {
		tl, err := e.events(ctx, a.fp, q.Since)
		if err != nil {
			return nil, false, err
		}
		tl.Labels = a.labels
		for i := range tl.Events {
			tl.Events[i].Labels = a.labels
		}
		out = append(out, tl)
	}
	return out, more, nil
}

// events reads the newest events of one alert since since, oldest first.
func (e *Events) events(ctx context.Context, fp model.Fingerprint, since time.Time) (AlertTimeline, error) {
	tl := AlertTimeline{Fingerprint: fp}
	rows, err := e.db.read.QueryContext(ctx, e.db.q(`SELECT at, kind, group_key, receiver, integration, data FROM alert_events
		WHERE fingerprint = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?`), int64(fp), since.UnixNano(), MaxTimelineEvents+1)
	if err != nil {
		return tl, fmt.Errorf("read alert events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ev   = dispatch.Event{Fingerprint: fp}
			at   int64
			data string
			d    eventData
		)
		if err := rows.Scan(&at, &ev.Kind, &ev.GroupKey, &ev.Receiver, &ev.Integration, &data); err != nil {
			return tl, fmt.Errorf("read alert events: %w", err)
		}
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			return tl, fmt.Errorf("alert %s: event at %d: %w", fp, at, err)
		}
		d.fill(&ev)
		ev.At = time.Unix(0, at).UTC()
		tl.Events = append(tl.Events, ev)
	}
	if err := rows.Err(); err != nil {
		return tl, fmt.Errorf("read alert events: %w", err)
	}
	if len(tl.Events) > MaxTimelineEvents {
		tl.Events, tl.Truncated = tl.Events[:MaxTimelineEvents], true
	}
	slices.Reverse(tl.Events)
	return tl, nil
}

// decodeLabelSet reads a JSON object of labels; a plain map, because
// model.LabelSet's decoder judges names by a global setting.
func decodeLabelSet(s string) (model.LabelSet, error) {
	var m map[model.LabelName]model.LabelValue
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	return model.LabelSet(m), nil
}
