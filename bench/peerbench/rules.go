package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// rulesCase is one rule-evaluation measurement.
type rulesCase struct {
	rules      int
	interval   time.Duration
	window     time.Duration
	firingFrac float64
	latency    time.Duration // of the fake query API
	notify     bool          // alerter: route the alerts to a webhook (vmalert always posts them)
	record     bool          // recording rules (one series each) written by remote write, not alerting rules
	profileDir string        // where alerter's CPU profile over the window goes, if set
}

func (c rulesCase) name() string {
	s := fmt.Sprintf("%d rules @%s", c.rules, c.interval)
	if c.record {
		s = fmt.Sprintf("%d recording rules @%s, remote write", c.rules, c.interval)
	}
	if c.latency > 0 {
		s += fmt.Sprintf(" latency %s", c.latency)
	}
	return s
}

// writeRules writes c.rules alerting rules in groups of 100; a fraction
// firingFrac of them return one series (they fire), the others none.
func writeRules(path string, c rulesCase) error {
	var b strings.Builder
	b.WriteString("groups:\n")
	every := max(1, int(1/c.firingFrac+0.5))
	for i := range c.rules {
		if i%100 == 0 {
			fmt.Fprintf(&b, "  - name: bench-%d\n    rules:\n", i/100)
		}
		series := 0
		if c.firingFrac > 0 && i%every == 0 {
			series = 1
		}
		if c.record {
			fmt.Fprintf(&b, "      - record: bench:recorded:%d\n        expr: bench_metric{rule=\"%d\",series=\"1\"}\n", i, i)
			continue
		}
		fmt.Fprintf(&b, "      - alert: BenchAlert%d\n        expr: bench_metric{rule=\"%d\",series=\"%d\"} > 0\n", i, i, series)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// measureRules runs target t on case c once and returns its figures.
func measureRules(ctx context.Context, t target, c rulesCase, run int) (map[string]any, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dir, err := os.MkdirTemp("", "peerbench-rules-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	prom, snk, rw := newFakeProm(c.latency), newSink(), &rwSink{}
	promURL, sinkURL, rwURL := serve(ctx, prom), serve(ctx, snk), serve(ctx, rw)
	rulesFile := filepath.Join(dir, "rules.yml")
	if err := writeRules(rulesFile, c); err != nil {
		return nil, err
	}
	addr := freeAddr()
	var args []string
	ready := "http://" + addr + "/-/ready"
	switch t.kind {
	case "alerter":
		remote := ""
		if c.record {
			remote = fmt.Sprintf(", remote_write: {url: '%s/api/v1/write'}", rwURL)
		}
		cfg := fmt.Sprintf("global: {evaluation_interval: %s}\ndatasources: [{name: fakeprom, type: prometheus, url: '%s'%s}]\nrule_files: ['%s']\n",
			c.interval, promURL, remote, rulesFile)
		if c.notify {
			cfg += fmt.Sprintf("route: {receiver: sink, group_by: [alertname], group_wait: 1s, group_interval: 5s, repeat_interval: 1h}\n"+
				"receivers: [{name: sink, webhook_configs: [{url: '%s/hook', send_resolved: false}]}]\n", sinkURL)
		}
		if err := os.WriteFile(filepath.Join(dir, "alerter.yml"), []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		args = []string{"--config.file=" + filepath.Join(dir, "alerter.yml"), "--storage.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr, "--log.level=warn"}
	case "vmalert":
		args = []string{"-rule=" + rulesFile, "-datasource.url=" + promURL, "-notifier.url=" + sinkURL,
			"-evaluationInterval=" + c.interval.String(), "-httpListenAddr=" + addr, "-loggerLevel=ERROR"}
		ready = "http://" + addr + "/health"
		if c.record {
			args = append(args, "-remoteWrite.url="+rwURL)
		}
	default:
		return nil, fmt.Errorf("%s cannot evaluate rules", t.kind)
	}
	p, err := start(t.bin, args, ready)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	// Two intervals for every group to run once and settle.
	time.Sleep(2*c.interval + time.Second)
	prom.count(c.interval)
	rw0, _, _ := rw.counts()
	cpu0, err := p.cpuSeconds()
	if err != nil {
		return nil, err
	}
	if c.profileDir != "" && t.kind == "alerter" {
		path := filepath.Join(c.profileDir, fmt.Sprintf("%s-run%d.pprof", t.name, run))
		if err := fetchProfile(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(c.window.Seconds())), path, c.window); err != nil {
			fmt.Fprintln(os.Stderr, "peerbench: profile:", err)
		}
		heap := filepath.Join(c.profileDir, fmt.Sprintf("%s-run%d.heap.pprof", t.name, run))
		if err := fetchProfile(fmt.Sprintf("http://%s/debug/pprof/heap", addr), heap, 0); err != nil {
			fmt.Fprintln(os.Stderr, "peerbench: heap profile:", err)
		}
	} else {
		time.Sleep(c.window)
	}
	cpu1, err := p.cpuSeconds()
	if err != nil {
		return nil, err
	}
	rss, err := p.peakRSS()
	if err != nil {
		return nil, err
	}
	evals, late := prom.stats()
	expected := float64(c.rules) * c.window.Seconds() / c.interval.Seconds()
	notifications, posted, delivered := snk.counts()
	rw1, rwRequests, rwBad := rw.counts()
	r := map[string]any{
		"scenario": "rules", "case": c.name(), "target": t.name, "run": run,
		"rules": c.rules, "interval_s": c.interval.Seconds(), "window_s": c.window.Seconds(),
		"notify":      c.notify || t.kind == "vmalert",
		"evaluations": evals, "expected": expected, "late_pct": 100 * float64(late) / expected,
		"cpu_s": cpu1 - cpu0, "cpu_s_per_1k_evals": 1000 * (cpu1 - cpu0) / float64(max(evals, 1)),
		"peak_rss_mib": rss, "notifications": notifications, "alerts_posted_to_notifier": posted,
		"alerts_delivered": delivered,
	}
	if c.record {
		r["samples_written"], r["samples_written_per_s"] = rw1-rw0, float64(rw1-rw0)/c.window.Seconds()
		r["remote_write_requests"], r["remote_write_bad"] = rwRequests, rwBad
	}
	return r, nil
}
