package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/alerter/alerter/evaluator"
)

// AlertStates returns the evaluator's state store, backed by db.
func (s *DB) AlertStates() evaluator.StateStore { return alertStates{s} }

type alertStates struct{ s *DB }

// LoadAlertStates implements evaluator.StateStore.
func (a alertStates) LoadAlertStates(ctx context.Context) (map[string][]evaluator.RuleAlerts, error) {
	return a.load(ctx, "", nil)
}

// LoadGroupAlertStates implements evaluator.GroupStateLoader.
func (a alertStates) LoadGroupAlertStates(ctx context.Context, groupKey string) ([]evaluator.RuleAlerts, error) {
	states, err := a.load(ctx, "WHERE group_key = ?", []any{groupKey})
	return states[groupKey], err
}

// load reads the alert states that where selects, by group key.
func (a alertStates) load(ctx context.Context, where string, args []any) (map[string][]evaluator.RuleAlerts, error) {
	rows, err := a.s.read.QueryContext(ctx, a.s.q(`SELECT group_key, rule_key, labels, annotations, state, value,
		active_at, fired_at, resolved_at, last_sent_at, valid_until, keep_firing_since
		FROM alert_states `+where+` ORDER BY group_key, rule_key`), args...)
	if err != nil {
		return nil, fmt.Errorf("read alert states: %w", err)
	}
	defer rows.Close()
	out := map[string][]evaluator.RuleAlerts{}
	for rows.Next() {
		var (
			group, rule, lbls, anns, state string
			value                          sql.NullFloat64
			times                          [6]int64
		)
		if err := rows.Scan(&group, &rule, &lbls, &anns, &state, &value,
			&times[0], &times[1], &times[2], &times[3], &times[4], &times[5]); err != nil {
			return nil, fmt.Errorf("read alert states: %w", err)
		}
		al, err := decodeAlert(lbls, anns, state, value, times)
		if err != nil {
			return nil, fmt.Errorf("alert state of group %q, rule %q: %w", group, rule, err)
		}
		rs := out[group]
		if n := len(rs); n > 0 && rs[n-1].RuleKey == rule {
			rs[n-1].Alerts = append(rs[n-1].Alerts, al)
		} else {
			rs = append(rs, evaluator.RuleAlerts{RuleKey: rule, Alerts: []evaluator.Alert{al}})
		}
		out[group] = rs
	}
	return out, rows.Err()
}

func decodeAlert(lbls, anns, state string, value sql.NullFloat64, t [6]int64) (evaluator.Alert, error) {
	var a evaluator.Alert
	var err error
	if a.State, err = evaluator.ParseAlertState(state); err != nil {
		return a, err
	}
	if a.Labels, err = decodeLabels(lbls); err != nil {
		return a, fmt.Errorf("labels: %w", err)
	}
	if a.Annotations, err = decodeLabels(anns); err != nil {
		return a, fmt.Errorf("annotations: %w", err)
	}
	a.Value = math.NaN()
	if value.Valid {
		a.Value = value.Float64
	}
	a.ActiveAt, a.FiredAt, a.ResolvedAt = fromNanos(t[0]), fromNanos(t[1]), fromNanos(t[2])
	a.LastSentAt, a.ValidUntil, a.KeepFiringSince = fromNanos(t[3]), fromNanos(t[4]), fromNanos(t[5])
	return a, nil
}

// SaveAlertStates implements evaluator.StateStore: the changed rows are
// written and the gone ones deleted in one durable transaction, shared with
// concurrent writers (group commit), so that groups evaluating at once
// share an fsync.
func (a alertStates) SaveAlertStates(ctx context.Context, group string, ch evaluator.StateChanges) error {
	return a.s.Write(ctx, func(tx *sql.Tx) error {
		if len(ch.Upsert) > 0 {
			stmt, err := tx.Prepare(a.s.q(`INSERT INTO alert_states (group_key, rule_key, labels,
				annotations, state, value, active_at, fired_at, resolved_at, last_sent_at, valid_until,
				keep_firing_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (group_key, rule_key, labels) DO UPDATE SET annotations = excluded.annotations,
				state = excluded.state, value = excluded.value, active_at = excluded.active_at,
				fired_at = excluded.fired_at, resolved_at = excluded.resolved_at,
				last_sent_at = excluded.last_sent_at, valid_until = excluded.valid_until,
				keep_firing_since = excluded.keep_firing_since`))
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, r := range ch.Upsert {
				for _, al := range r.Alerts {
					var value sql.NullFloat64
					if !math.IsNaN(al.Value) {
						value = sql.NullFloat64{Float64: al.Value, Valid: true}
					}
					_, err := stmt.Exec(group, r.RuleKey, encodeLabels(al.Labels), encodeLabels(al.Annotations),
						al.State.String(), value, toNanos(al.ActiveAt), toNanos(al.FiredAt), toNanos(al.ResolvedAt),
						toNanos(al.LastSentAt), toNanos(al.ValidUntil), toNanos(al.KeepFiringSince))
					if err != nil {
						return fmt.Errorf("save alert %s: %w", al.Labels, err)
					}
				}
			}
		}
		for _, d := range ch.Delete {
			if _, err := tx.Exec(a.s.q(`DELETE FROM alert_states WHERE group_key = ? AND rule_key = ? AND labels = ?`),
				group, d.RuleKey, encodeLabels(d.Labels)); err != nil {
				return fmt.Errorf("delete alert %s: %w", d.Labels, err)
			}
		}
		return nil
	})
}

// DeleteAlertStates implements evaluator.StateStore.
func (a alertStates) DeleteAlertStates(ctx context.Context, group string) error {
	return a.s.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(a.s.q(`DELETE FROM alert_states WHERE group_key = ?`), group)
		return err
	})
}

func encodeLabels(l labels.Labels) string {
	b, _ := json.Marshal(l.Map()) // a map of strings always encodes
	return string(b)
}

func decodeLabels(s string) (labels.Labels, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return labels.EmptyLabels(), err
	}
	return labels.FromMap(m), nil
}

func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
