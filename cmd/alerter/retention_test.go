package main

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/silences"
	"github.com/alerter/alerter/storage"
)

func TestMaintenanceInterval(t *testing.T) {
	for _, tc := range []struct {
		data dataLifetime
		want time.Duration
	}{
		{dataLifetime{retention: 120 * time.Hour}, 15 * time.Minute},
		{dataLifetime{retention: 2 * time.Minute}, 12 * time.Second},
		{dataLifetime{retention: 5 * time.Second}, time.Second},
		{dataLifetime{retention: 2 * time.Minute, maintenance: time.Hour}, time.Hour},
	} {
		require.Equal(t, tc.want, tc.data.interval(), "%+v", tc.data)
	}
}

// TestShortRetentionIsKept: with --data.retention=2m, expired silences,
// notification log entries and history are deleted about two minutes after
// they expire, not after the fixed 15 minutes that used to be the first
// cleanup.
func TestShortRetentionIsKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		db, err := storage.Open(ctx, t.TempDir())
		require.NoError(t, err)
		defer db.Close()
		rt, err := newRouting(ctx, routingOptions{
			db: db, data: dataLifetime{retention: 2 * time.Minute}, reg: prometheus.NewRegistry(), logger: slog.New(slog.DiscardHandler),
		})
		require.NoError(t, err)
		done := make(chan struct{})
		go func() {
			defer close(done)
			rt.run(ctx)
		}()

		now := time.Now()
		m, err := labels.NewMatcher(labels.MatchEqual, "alertname", "X")
		require.NoError(t, err)
		_, err = rt.silences.Set(ctx, silences.Silence{Matchers: labels.Matchers{m}, StartsAt: now, EndsAt: now.Add(time.Second), CreatedBy: "a", Comment: "b"})
		require.NoError(t, err)
		require.NoError(t, rt.nflog.Log(ctx, "k", []uint64{1}, nil, now, time.Second))
		rt.history.Record(ctx, dispatch.Attempt{At: now, Receiver: "r", Integration: "webhook/0", GroupKey: "g", Status: "firing", Attempt: 1})
		synctest.Wait()

		time.Sleep(2*time.Minute + 15*time.Second)
		synctest.Wait()
		require.Empty(t, rt.silences.Query(), "expired silence kept past the retention")
		require.Zero(t, rt.nflog.Len(), "notification log entry kept past the retention")
		got, err := rt.history.List(ctx, storage.HistoryFilter{})
		require.NoError(t, err)
		require.Empty(t, got, "history kept past the retention")
		cancel()
		<-done
		rt.stop()
	})
}
