package storage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/dispatch"
)

func TestAlertsRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		dir := newTarget()
		db := open(t, dir)
		p := db.Alerts()
		alerts, savedAt, err := p.LoadAlerts(ctx)
		require.NoError(t, err)
		require.Empty(t, alerts)
		require.True(t, savedAt.IsZero())

		at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
		s := dispatch.NewStore(5*time.Minute, func() time.Time { return at })
		_, err = s.Restore(ctx, p)
		require.NoError(t, err)
		require.NoError(t, s.Put([]*dispatch.Alert{
			{Labels: model.LabelSet{"alertname": "A", "é": "ü"}, Annotations: model.LabelSet{"summary": `"quoted" <b>`},
				StartsAt: at.Add(-time.Hour), EndsAt: at.Add(time.Hour), GeneratorURL: "http://prom/graph"},
			{Labels: model.LabelSet{"alertname": "B"}}, // no end: resolve_timeout
		}))
		require.NoError(t, s.Persist(ctx))
		require.NoError(t, db.Close())

		db = open(t, dir)
		defer db.Close()
		got, savedAt, err := db.Alerts().LoadAlerts(ctx)
		require.NoError(t, err)
		require.True(t, savedAt.Equal(at))
		require.Len(t, got, 2)
		byName := map[model.LabelValue]*dispatch.Alert{}
		for _, a := range got {
			byName[a.Labels["alertname"]] = a
		}
		a := byName["A"]
		require.Equal(t, model.LabelSet{"alertname": "A", "é": "ü"}, a.Labels)
		require.Equal(t, model.LabelValue(`"quoted" <b>`), a.Annotations["summary"])
		require.True(t, a.StartsAt.Equal(at.Add(-time.Hour)))
		require.True(t, a.EndsAt.Equal(at.Add(time.Hour)))
		require.True(t, a.UpdatedAt.Equal(at))
		require.False(t, a.Timeout)
		require.Equal(t, "http://prom/graph", a.GeneratorURL)
		require.True(t, byName["B"].Timeout)
		require.True(t, byName["B"].EndsAt.Equal(at.Add(5*time.Minute)))
	})
}

// TestAlertsManyRows: more alerts than one INSERT writes, saved, updated
// and partly deleted, read back whole.
func TestAlertsManyRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, newTarget func() string) {
		ctx := context.Background()
		db := open(t, newTarget())
		defer db.Close()
		p := db.Alerts()
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		s := dispatch.NewStore(5*time.Minute, func() time.Time { return at })
		_, err := s.Restore(ctx, p)
		require.NoError(t, err)
		n := 2*alertsPerInsert + 50
		put := func(summary string) {
			batch := make([]*dispatch.Alert, n)
			for i := range batch {
				batch[i] = &dispatch.Alert{Labels: model.LabelSet{"alertname": "A", "i": model.LabelValue(fmt.Sprint(i))},
					Annotations: model.LabelSet{"summary": model.LabelValue(summary)}, StartsAt: at, EndsAt: at.Add(time.Hour)}
			}
			require.NoError(t, s.Put(batch))
			require.NoError(t, s.Persist(ctx))
		}
		put("first")
		put("second")
		var gone []model.Fingerprint
		for i := range 10 {
			gone = append(gone, model.LabelSet{"alertname": "A", "i": model.LabelValue(fmt.Sprint(i))}.Fingerprint())
		}
		require.NoError(t, p.SaveAlerts(ctx, nil, gone, at.Add(time.Second)))
		got, savedAt, err := p.LoadAlerts(ctx)
		require.NoError(t, err)
		require.True(t, savedAt.Equal(at.Add(time.Second)))
		require.Len(t, got, n-10)
		for _, a := range got {
			require.Equal(t, model.LabelValue("second"), a.Annotations["summary"])
		}
	})
}
