package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/dispatch"
)

// TestAlertFloodBounded: 16 clients post 1 MiB of new alerts each at once
// (about 370,000 alerts) to a store limited to 1,000 alerts. The store
// keeps 1,000, every refusal is a 429 that says why, and the heap stays far
// below what the bodies would decode to at once (16 concurrent 8 MiB posts
// stored 4.8 million alerts in 4.1 GB before).
func TestAlertFloodBounded(t *testing.T) {
	base, rt, _ := newV2Server(t)
	rt.store.SetLimits(dispatch.StoreLimits{Alerts: 1000}, dispatch.NewMetrics(prometheus.NewRegistry()))
	body := func(client int) []byte {
		var b bytes.Buffer
		b.WriteByte('[')
		for i := 0; b.Len() < 1<<20; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"labels":{"alertname":"Flood","c":"%d","i":"%d"}}`, client, i)
		}
		b.WriteByte(']')
		return b.Bytes()
	}
	bodies := make([][]byte, 16)
	for i := range bodies {
		bodies[i] = body(i)
	}
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	var wg sync.WaitGroup
	codes := make([]int, len(bodies))
	msgs := make([]string, len(bodies))
	for i := range bodies {
		wg.Go(func() {
			resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(bodies[i]))
			if err != nil {
				msgs[i] = err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			codes[i], msgs[i] = resp.StatusCode, string(b)
		})
	}
	wg.Wait()
	close(stop)
	sampler.Wait()

	require.Equal(t, 1000, rt.store.Len())
	for i, code := range codes {
		require.Equal(t, http.StatusTooManyRequests, code, msgs[i])
		require.Contains(t, msgs[i], "alerts refused: the store holds its limit of 1000 alerts")
	}
	grew := peak.Load() - min(peak.Load(), before.HeapInuse)
	t.Logf("peak heap growth %d MiB for 16 MiB of bodies", grew>>20)
	require.Less(t, grew, uint64(256<<20))
}
