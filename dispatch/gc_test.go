package dispatch

import (
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
)

// TestStoppedDispatcherIsCollected: once a reload replaced and stopped a
// dispatcher, nothing (its groups' timers above all) keeps it reachable.
func TestStoppedDispatcherIsCollected(t *testing.T) {
	nlog, err := NewNotificationLog(t.Context(), nil, time.Hour)
	require.NoError(t, err)
	store := NewStore(5*time.Minute, nil)
	route := NewRoute(&config.Route{Receiver: "r", GroupBy: []model.LabelName{"alertname"},
		GroupWait: dur(time.Hour), GroupInterval: dur(time.Hour), RepeatInterval: dur(time.Hour)})
	receivers := map[string][]Integration{"r": {{Kind: "webhook", Notifier: &fakeNotifier{name: "webhook/0"}}}}
	d, err := NewDispatcher(Options{Route: route, Log: nlog, Receivers: receivers})
	require.NoError(t, err)
	store.SetDispatcher(d)
	for i := range 100 {
		require.NoError(t, store.Put([]*Alert{firing(time.Now(), "alertname", "A", "i", string(rune('a'+i%26)))}))
		require.NoError(t, store.Put([]*Alert{firing(time.Now(), "alertname", string(rune('A'+i%26)))}))
	}
	w := weak.Make(d)
	next, err := NewDispatcher(Options{Route: route, Log: nlog, Receivers: receivers})
	require.NoError(t, err)
	store.SetDispatcher(next).Stop()
	runtime.KeepAlive(d) // the last use: from here only w refers to it
	for range 5 {
		runtime.GC()
	}
	require.Nil(t, w.Value(), "the stopped dispatcher is still reachable")
	next.Stop()
}
