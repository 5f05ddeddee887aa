package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	replicas                   int    // processes of an alerter-pg target
	pgURL                      string // its database, and that of pgStats
	pgStats                    bool   // record the transactions committed in pgURL's database
	settle                     time.Duration
	cpuTail                    time.Duration // CPU counted after the last delivery
	profileDir                 string        // where CPU profiles of alerter processes go, if set
	profileFor                 time.Duration // how long each lasts
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
	n, extra := 1, []string(nil)
	var clusterAddrs []string // alertmanager-ha: each replica's gossip address
	switch t.kind {
	case "alertmanager":
		extra = []string{"--cluster.listen-address="}
	case "alertmanager-ha":
		// A gossip cluster of -replicas, each peered with the first, as
		// Alertmanager's HA is run.
		n = c.replicas
		for range n {
			clusterAddrs = append(clusterAddrs, freeAddr())
		}
	case "alerter":
	case "alerter-pg":
		// The replicas share one fresh schema, dropped after the run.
		n = c.replicas
		schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
		if _, err := psql(c.pgURL, "CREATE SCHEMA "+schema); err != nil {
			return nil, err
		}
		defer func() {
			if _, err := psql(c.pgURL, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
				fmt.Fprintln(os.Stderr, "peerbench:", err)
			}
		}()
		extra = []string{"--storage.url=" + c.pgURL + "&search_path=" + schema}
	default:
		return nil, fmt.Errorf("%s does not take alerts", t.kind)
	}
	var (
		ps    []*proc
		bases []string
	)
	defer func() { stopAll(ps) }()
	for i := range n {
		addr := freeAddr()
		args := []string{"--config.file=" + cfg, "--storage.path=" + filepath.Join(dir, fmt.Sprintf("data-%d", i)),
			"--web.listen-address=" + addr, "--log.level=warn"}
		if t.kind == "alerter-pg" {
			args = append(args, "--web.external-url=http://"+addr)
		}
		if t.kind == "alertmanager-ha" {
			args = append(args, "--cluster.listen-address="+clusterAddrs[i], "--cluster.peer="+clusterAddrs[0])
		}
		p, err := start(t.bin, append(args, extra...), "http://"+addr+"/-/ready")
		if err != nil {
			return nil, err
		}
		ps, bases = append(ps, p), append(bases, "http://"+addr)
	}
	base := bases[0] // silences are shared: made through one replica
	xact0, err := c.xacts()
	if err != nil {
		return nil, err
	}
	time.Sleep(c.settle)
	xact1, err := c.xacts()
	if err != nil {
		return nil, err
	}
	m0 := scrape(t, bases)

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
	cpu0, err := cpuSum(ps)
	if err != nil {
		return nil, err
	}
	stopProfiles := c.profile(t, bases, run)
	defer stopProfiles()
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
		// To every replica at once, as a Prometheus that has them all
		// as its Alertmanagers.
		return parallel(len(bases), len(bases), func(r int) error { return post(bases[r]+"/api/v2/alerts", body.String()) })
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	ingest := time.Since(t0)
	expected := c.alerts - muted
	delivered := snk.waitDelivered(expected, time.Minute)
	all := time.Since(t0)
	time.Sleep(c.cpuTail)
	cpu1, err := cpuSum(ps)
	if err != nil {
		return nil, err
	}
	rss, rssMax := 0.0, 0.0
	for _, p := range ps {
		r, err := p.peakRSS()
		if err != nil {
			return nil, err
		}
		rss, rssMax = rss+r, max(rssMax, r)
	}
	stopProfiles()
	m1 := scrape(t, bases)
	notifications, _, _ := snk.counts()
	r := map[string]any{
		"scenario": "ingest", "case": c.name(), "target": t.name, "run": run,
		"alerts": c.alerts, "groups": c.groups, "silences": c.silences,
		"ingest_alerts_per_s": float64(c.alerts) / ingest.Seconds(),
		"expected":            expected, "delivered": delivered, "notifications": notifications,
		"duplicates": snk.duplicates(),
		"e2e_p50_ms": float64(snk.latency(50).Microseconds()) / 1000, "e2e_p99_ms": float64(snk.latency(99).Microseconds()) / 1000,
		"all_delivered_s": all.Seconds(), "cpu_s": cpu1 - cpu0, "cpu_s_per_1k_alerts": 1000 * (cpu1 - cpu0) / float64(c.alerts),
		"peak_rss_mib": rss,
	}
	if n > 1 {
		r["replicas"], r["peak_rss_max_mib"] = n, rssMax
	}
	if c.silences > 0 {
		r["silences_per_s"] = silenceRate
	}
	for k, v := range m1 {
		r[k] = v - m0[k]
	}
	// The processes' output (warnings and errors only) goes to the log.
	stopAll(ps)
	for i, p := range ps {
		if out := strings.TrimSpace(p.out.String()); out != "" {
			lines := strings.Split(out, "\n")
			fmt.Fprintf(os.Stderr, "%s, run %d, process %d: %d lines of output, the first ones:\n%s\n", t.name, run, i,
				len(lines), strings.Join(lines[:min(len(lines), 10)], "\n"))
			r["output_lines"] = num(r["output_lines"]) + float64(len(lines))
		}
	}
	if c.pgStats {
		// A backend reports its counts within a second, and when its
		// connection closes.
		time.Sleep(1500 * time.Millisecond)
		xact2, err := c.xacts()
		if err != nil {
			return nil, err
		}
		if c.settle > 0 {
			r["pg_idle_xacts_per_s"] = float64(xact1-xact0) / c.settle.Seconds()
		}
		r["pg_xacts"] = xact2 - xact1
		r["xacts_per_alert"] = float64(xact2-xact1) / float64(c.alerts)
		r["xacts_per_notification"] = float64(xact2-xact1) / float64(max(1, notifications))
	}
	return r, nil
}

// profile starts fetching a CPU profile of c.profileFor from each alerter
// process at bases, if c.profileDir is set; the function it returns waits
// for them. A failed profile is reported, not fatal.
func (c ingestCase) profile(t target, bases []string, run int) (wait func()) {
	if c.profileDir == "" || (t.kind != "alerter" && t.kind != "alerter-pg") {
		return func() {}
	}
	var wg sync.WaitGroup
	for i, b := range bases {
		wg.Go(func() {
			path := filepath.Join(c.profileDir, fmt.Sprintf("%s-run%d-p%d.pprof", t.name, run, i))
			if err := fetchProfile(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", b, int(c.profileFor.Seconds())), path, c.profileFor); err != nil {
				fmt.Fprintln(os.Stderr, "peerbench: profile:", err)
			}
		})
	}
	var once sync.Once
	return func() { once.Do(wg.Wait) }
}

// fetchProfile saves the profile at url in path.
func fetchProfile(url, path string, d time.Duration) error {
	cl := &http.Client{Timeout: d + 30*time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// xacts returns the transactions committed in the database so far, if
// c.pgStats.
func (c ingestCase) xacts() (int64, error) {
	if !c.pgStats {
		return 0, nil
	}
	out, err := psql(c.pgURL, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(out, 10, 64)
}

// psql runs statement on the database of url (no search_path) and returns
// its output, unaligned.
func psql(url, statement string) (string, error) {
	url, _, _ = strings.Cut(url, "&search_path=")
	out, err := exec.Command("psql", "-X", "-Atq", "-d", url, "-c", statement).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql %q: %w: %s", statement, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// scrape sums, over alerter's processes at bases, its storage commits and
// notification claims (by result), named as in the results.
func scrape(t target, bases []string) map[string]float64 {
	m := map[string]float64{}
	if t.kind != "alerter" && t.kind != "alerter-pg" {
		return m
	}
	names := map[string]string{
		`alerter_notification_claims_total{result="won"}`:    "claims_won",
		`alerter_notification_claims_total{result="lost"}`:   "claims_lost",
		`alerter_notification_claims_total{result="failed"}`: "claims_failed",
		`alerter_notification_backstops_total`:               "backstops",
	}
	for _, b := range bases {
		resp, err := client.Get(b + "/metrics")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			name := names[f[0]]
			if strings.HasPrefix(f[0], "alerter_storage_commits_total{") {
				name = "storage_commits" // labelled by backend
			}
			if name != "" {
				v, _ := strconv.ParseFloat(f[1], 64)
				m[name] += v
			}
		}
	}
	return m
}

// cpuSum returns the CPU seconds of all ps.
func cpuSum(ps []*proc) (float64, error) {
	sum := 0.0
	for _, p := range ps {
		s, err := p.cpuSeconds()
		if err != nil {
			return 0, err
		}
		sum += s
	}
	return sum, nil
}

// stopAll stops ps at once.
func stopAll(ps []*proc) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(p.stop)
	}
	wg.Wait()
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
