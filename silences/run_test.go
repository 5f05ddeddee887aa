package silences

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// Run collects garbage every 15 minutes (on synctest's fake clock) and
// returns when its context is cancelled.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := New(ctx, Options{Retention: time.Minute})
		require.NoError(t, err)
		sil := newSilence(labels.Matchers{eq(t, "a", "x")}, 0, 0)
		sil.StartsAt, sil.EndsAt = time.Now(), time.Now().Add(time.Minute)
		_, err = s.Set(ctx, sil)
		require.NoError(t, err)

		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { s.Run(runCtx); close(done) }()
		time.Sleep(14 * time.Minute)
		synctest.Wait()
		require.Len(t, s.Query(), 1)
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		require.Empty(t, s.Query())
		cancel()
		<-done
	})
}

// Readers run without locks against the index while writers change it;
// under -race this checks that published indexes are never written to.
func TestConcurrentReadersAndWriters(t *testing.T) {
	clk := newClock()
	s := newStore(t, clk, newMemPersister())
	lsets := []model.LabelSet{{"a": "x"}, {"a": "y", "b": "1"}, {"b": "2"}}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, l := range lsets {
					for _, id := range s.Mutes(l) {
						_, _ = s.Get(id)
					}
					s.Query(QMatches(l), QState(StateActive))
				}
			}
		})
	}
	var ids []string
	for i := range 300 {
		ms := labels.Matchers{eq(t, "a", []string{"x", "y"}[i%2])}
		if i%3 == 0 {
			ms = labels.Matchers{m(t, labels.MatchRegexp, "b", "1|2")}
		}
		id, err := s.Set(ctx, newSilence(ms, 0, time.Hour))
		require.NoError(t, err)
		ids = append(ids, id)
		if i%4 == 0 {
			require.NoError(t, s.Expire(ctx, ids[i/2]))
		}
		if i%50 == 0 {
			clk.Advance(time.Minute)
			_, err := s.GC(ctx)
			require.NoError(t, err)
		}
	}
	close(done)
	readers.Wait()
	require.Equal(t, bruteMutes(s, lsets[1], clk.Now()), s.Mutes(lsets[1]))
}
