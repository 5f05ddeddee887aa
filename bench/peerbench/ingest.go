package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ingestCase is one alert-ingestion measurement: silences are created,
// then alerts posted as senders do, and delivered to a webhook.
type ingestCase struct {
	alerts, batch, concurrency int
	groups                     int // svc label values; group_by [alertname, svc]
	silences, silenceMatching  int // silences made, and how many of them match posted groups
	groupWait                  time.Duration
}

func (c ingestCase) name() string {
	if c.silences > 0 {
		return fmt.Sprintf("%d alerts, %d groups, %d silences", c.alerts, c.groups, c.silences)
	}
	return fmt.Sprintf("%d alerts, %d groups", c.alerts, c.groups)
}

// routingConfig is an Alertmanager configuration, which alerter takes as
// it is.
func routingConfig(c ingestCase, sinkURL string) string {
	return fmt.Sprintf(`route:
  receiver: sink
  group_by: [alertname, svc]
  group_wait: %s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - name: sink
    webhook_configs:
      - url: '%s/hook'
        send_resolved: false
`, c.groupWait, sinkURL)
}

// measureIngest runs target t on case c once and returns its figures.
func measureIngest(ctx context.Context, t target, c ingestCase, run int) (map[string]any, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dir, err := os.MkdirTemp("", "peerbench-ingest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	snk := newSink()
	sinkURL := serve(ctx, snk)
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(routingConfig(c, sinkURL)), 0o600); err != nil {
		return nil, err
	}
	addr := freeAddr()
	args := []string{"--config.file=" + cfg, "--storage.path=" + filepath.Join(dir, "data"), "--web.listen-address=" + addr, "--log.level=warn"}
	switch t.kind {
	case "alertmanager":
		args = append(args, "--cluster.listen-address=")
	case "alerter":
	default:
		return nil, fmt.Errorf("%s does not take alerts", t.kind)
	}
	p, err := start(t.bin, args, "http://"+addr+"/-/ready")
	if err != nil {
		return nil, err
	}
	defer p.stop()
	base := "http://" + addr

	silenceRate := 0.0
	if c.silences > 0 {
		t0 := time.Now()
		err := parallel(c.silences, c.concurrency, func(i int) error {
			svc := fmt.Sprintf("none-%d", i)
			if i < c.silenceMatching {
				svc = fmt.Sprintf("s%d", i)
			}
			return post(base+"/api/v2/silences", fmt.Sprintf(`{"matchers":[{"name":"svc","value":%q,"isRegex":false,"isEqual":true}],
				"startsAt":%q,"endsAt":%q,"createdBy":"peerbench","comment":"bench"}`,
				svc, time.Now().Format(time.RFC3339), time.Now().Add(time.Hour).Format(time.RFC3339)))
		})
		if err != nil {
			return nil, fmt.Errorf("silences: %w", err)
		}
		silenceRate = float64(c.silences) / time.Since(t0).Seconds()
	}

	muted := 0
	for i := range c.alerts {
		if i%c.groups < c.silenceMatching {
			muted++
		}
	}
	cpu0, err := p.cpuSeconds()
	if err != nil {
		return nil, err
	}
	batches := (c.alerts + c.batch - 1) / c.batch
	t0 := time.Now()
	err = parallel(batches, c.concurrency, func(b int) error {
		var body bytes.Buffer
		body.WriteByte('[')
		sent := time.Now().UnixNano()
		for i := b * c.batch; i < min(c.alerts, (b+1)*c.batch); i++ {
			if i > b*c.batch {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `{"labels":{"alertname":"BenchAlert","svc":"s%d","instance":"i-%d","l0":"v0","l1":"v1","l2":"v2"},`+
				`"annotations":{"bench_sent":"%d"}}`, i%c.groups, i, sent)
		}
		body.WriteByte(']')
		return post(base+"/api/v2/alerts", body.String())
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	ingest := time.Since(t0)
	expected := c.alerts - muted
	delivered := snk.waitDelivered(expected, time.Minute)
	all := time.Since(t0)
	cpu1, err := p.cpuSeconds()
	if err != nil {
		return nil, err
	}
	rss, err := p.peakRSS()
	if err != nil {
		return nil, err
	}
	notifications, _, _ := snk.counts()
	r := map[string]any{
		"scenario": "ingest", "case": c.name(), "target": t.name, "run": run,
		"alerts": c.alerts, "groups": c.groups, "silences": c.silences,
		"ingest_alerts_per_s": float64(c.alerts) / ingest.Seconds(),
		"expected":            expected, "delivered": delivered, "notifications": notifications,
		"e2e_p50_ms": float64(snk.latency(50).Microseconds()) / 1000, "e2e_p99_ms": float64(snk.latency(99).Microseconds()) / 1000,
		"all_delivered_s": all.Seconds(), "cpu_s": cpu1 - cpu0, "cpu_s_per_1k_alerts": 1000 * (cpu1 - cpu0) / float64(c.alerts),
		"peak_rss_mib": rss,
	}
	if c.silences > 0 {
		r["silences_per_s"] = silenceRate
	}
	return r, nil
}

// parallel calls f(0..n-1) from conc goroutines and returns the first error.
func parallel(n, conc int, f func(int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs error
		next = make(chan int)
	)
	for range conc {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if errs == nil {
						errs = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

var client = &http.Client{Timeout: 30 * time.Second}

func post(url, body string) error {
	resp, err := client.Post(url, "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}
