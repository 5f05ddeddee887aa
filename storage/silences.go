package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/alerter/alerter/silences"
)

// Silences returns the silence store's Persister, backed by db.
func (s *DB) Silences() silences.Persister { return silenceStore{s} }

type silenceStore struct{ s *DB }

// storedMatcher is one element of the silences.matchers JSON array.
type storedMatcher struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Type  string `json:"type"` // "=", "!=", "=~" or "!~"
}

var matchTypes = map[string]labels.MatchType{
	labels.MatchEqual.String():     labels.MatchEqual,
	labels.MatchNotEqual.String():  labels.MatchNotEqual,
	labels.MatchRegexp.String():    labels.MatchRegexp,
	labels.MatchNotRegexp.String(): labels.MatchNotRegexp,
}

// LoadSilences implements silences.Persister.
func (p silenceStore) LoadSilences(ctx context.Context) ([]silences.Silence, error) {
	rows, err := p.s.read.QueryContext(ctx, `SELECT id, matchers, starts_at, ends_at, updated_at,
		created_by, comment, replaces FROM silences ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read silences: %w", err)
	}
	defer rows.Close()
	var out []silences.Silence
	for rows.Next() {
		var (
			sil      silences.Silence
			matchers string
			times    [3]int64
		)
		if err := rows.Scan(&sil.ID, &matchers, &times[0], &times[1], &times[2], &sil.CreatedBy, &sil.Comment, &sil.Replaces); err != nil {
			return nil, fmt.Errorf("read silences: %w", err)
		}
		if sil.Matchers, err = decodeMatchers(matchers); err != nil {
			return nil, fmt.Errorf("silence %s: %w", sil.ID, err)
		}
		sil.StartsAt, sil.EndsAt, sil.UpdatedAt = fromNanos(times[0]), fromNanos(times[1]), fromNanos(times[2])
		out = append(out, sil)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read silences: %w", err)
	}
	return out, nil
}

// SaveSilences implements silences.Persister: upserts and deletes are one
// transaction (shared with concurrent writers by group commit), durable
// when it returns nil.
func (p silenceStore) SaveSilences(ctx context.Context, upsert []silences.Silence, deleteIDs []string) error {
	// Encode first, so that a bad silence fails before the transaction.
	encoded := make([]string, len(upsert))
	for i, sil := range upsert {
		var err error
		if encoded[i], err = encodeMatchers(sil.Matchers); err != nil {
			return fmt.Errorf("silence %s: %w", sil.ID, err)
		}
	}
	return p.s.Write(ctx, func(tx *sql.Tx) error {
		for i, sil := range upsert {
			_, err := tx.ExecContext(ctx, p.s.q(`INSERT INTO silences (id, matchers, starts_at, ends_at,
				updated_at, created_by, comment, replaces) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers,
				starts_at = excluded.starts_at, ends_at = excluded.ends_at,
				updated_at = excluded.updated_at, created_by = excluded.created_by,
				comment = excluded.comment, replaces = excluded.replaces`),
				sil.ID, encoded[i], toNanos(sil.StartsAt), toNanos(sil.EndsAt), toNanos(sil.UpdatedAt),
				sil.CreatedBy, sil.Comment, sil.Replaces)
			if err != nil {
				return fmt.Errorf("save silence %s: %w", sil.ID, err)
			}
		}
		for _, id := range deleteIDs {
			if _, err := tx.ExecContext(ctx, p.s.q(`DELETE FROM silences WHERE id = ?`), id); err != nil {
				return fmt.Errorf("delete silence %s: %w", id, err)
			}
		}
		return nil
	})
}

func encodeMatchers(ms labels.Matchers) (string, error) {
	out := make([]storedMatcher, len(ms))
	for i, m := range ms {
		if m.Type < labels.MatchEqual || m.Type > labels.MatchNotRegexp {
			return "", fmt.Errorf("matcher %q: unknown match type %d", m.Name, int(m.Type)) // String would panic
		}
		out[i] = storedMatcher{Name: m.Name, Value: m.Value, Type: m.Type.String()}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func decodeMatchers(s string) (labels.Matchers, error) {
	var stored []storedMatcher
	if err := json.Unmarshal([]byte(s), &stored); err != nil {
		return nil, fmt.Errorf("matchers: %w", err)
	}
	ms := make(labels.Matchers, len(stored))
	for i, sm := range stored {
		t, ok := matchTypes[sm.Type]
		if !ok {
			return nil, fmt.Errorf("matcher %q: unknown match type %q", sm.Name, sm.Type)
		}
		m, err := labels.NewMatcher(t, sm.Name, sm.Value)
		if err != nil {
			return nil, fmt.Errorf("matcher %q: %w", sm.Name, err)
		}
		ms[i] = m
	}
	return ms, nil
}
