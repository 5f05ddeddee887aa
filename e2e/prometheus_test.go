package e2e

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// startPrometheus runs Debian's prometheus on a free port, scraping target
// every second, with its data in dataDir.
func startPrometheus(t *testing.T, target, dataDir, addr string) *testutil.Process {
	t.Helper()
	return startPrometheusWith(t, dataDir, addr, fmt.Sprintf(`
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: e2e
    static_configs:
      - targets: ['%s']
`, target))
}

// startPrometheusWith runs Debian's prometheus on addr with the
// configuration config (written to dataDir, as its rule files may be), its
// data in dataDir, and extra flags.
func startPrometheusWith(t *testing.T, dataDir, addr, config string, flags ...string) *testutil.Process {
	t.Helper()
	bin := testutil.Program(t, "prometheus", "prometheus")
	cfg := filepath.Join(dataDir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(config), 0o600))
	p := testutil.Start(t, bin, append([]string{"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dataDir, "tsdb"),
		"--web.listen-address=" + addr, "--log.level=warn"}, flags...)...)
	testutil.WaitHTTP(t, p, "http://"+addr+"/-/ready", 60*time.Second)
	return p
}

// gaugeExporter serves a gauge e2e_test_value (0 until set) for the length
// of the test, and returns it and the address Prometheus scrapes.
func gaugeExporter(t *testing.T) (prometheus.Gauge, string) {
	reg := prometheus.NewRegistry()
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "e2e_test_value", Help: "Set by the test."})
	reg.MustRegister(gauge)
	exporter := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(exporter.Close)
	return gauge, strings.TrimPrefix(exporter.URL, "http://")
}

// TestAgainstRealPrometheus evaluates rules against Debian's Prometheus
// scraping a gauge the test sets: pending, firing, a Prometheus outage
// (the alert stays firing, the rule turns unhealthy, one log line), and
// resolution; and a query that Prometheus rejects at execution.
func TestAgainstRealPrometheus(t *testing.T) {
	t.Parallel()
	gauge, target := gaugeExporter(t)
	promDir, promAddr := t.TempDir(), testutil.FreeAddr(t)
	prom := startPrometheus(t, target, promDir, promAddr)

	a := startAlerter(t, map[string]string{
		"alerter.yml": fmt.Sprintf(`
global:
  evaluation_interval: 1s
  external_labels: {cluster: e2e}
datasources:
  - name: prom
    type: prometheus
    url: http://%s
    timeout: 5s
rule_files: [rules.yml]
`, promAddr),
		"rules.yml": `
groups:
  - name: e2e
    rules:
      - alert: ValueHigh
        expr: e2e_test_value > 0
        for: 3s
        labels: {severity: page}
        annotations:
          summary: '{{ $labels.job }} value is {{ $value }} (cluster {{ $externalLabels.cluster }})'
      - alert: BadRegex
        expr: label_replace(e2e_test_value, "x", "$1", "job", "(")
`,
	}, "")

	// Nothing fires while the gauge is 0 (and the scrape has happened).
	testutil.Eventually(t, 30*time.Second, 200*time.Millisecond, func() bool {
		r := a.rules(t)["ValueHigh"]
		return r.Health == "ok"
	}, "ValueHigh was never evaluated")
	st, _ := a.alertState(t, "ValueHigh")
	require.Empty(t, st)

	bad := a.rules(t)["BadRegex"]
	require.Equal(t, "err", bad.Health)
	require.Contains(t, bad.LastError, "invalid regular expression")
	require.Contains(t, bad.LastError, promAddr)

	gauge.Set(42)
	pending := waitState(t, a, "ValueHigh", "pending", 30*time.Second)
	require.Equal(t, "e2e value is 42 (cluster e2e)", pending.Annotations["summary"])
	firing := waitState(t, a, "ValueHigh", "firing", 30*time.Second)
	require.True(t, pending.ActiveAt.Equal(firing.ActiveAt))

	// Prometheus goes away: the alert stays firing, the rule turns unhealthy.
	prom.Kill()
	testutil.Eventually(t, 20*time.Second, 200*time.Millisecond, func() bool {
		return a.rules(t)["ValueHigh"].Health == "err"
	}, "ValueHigh did not turn unhealthy while Prometheus was down")
	r := a.rules(t)["ValueHigh"]
	require.Contains(t, r.LastError, "connection refused")
	time.Sleep(3 * time.Second) // several failed evaluations
	st, _ = a.alertState(t, "ValueHigh")
	require.Equal(t, "firing", st, "a failed query resolves nothing")
	logged := 0
	for _, line := range strings.Split(a.Output(), "\n") {
		if strings.Contains(line, `msg="Evaluating rule failed"`) && strings.Contains(line, "rule=ValueHigh") {
			logged++
		}
	}
	require.Equal(t, 1, logged, "one log line per change of error, not one per evaluation:\n%s", a.Output())

	// Prometheus is back and the gauge is 0: the alert resolves.
	gauge.Set(0)
	startPrometheus(t, target, promDir, promAddr)
	testutil.Eventually(t, 30*time.Second, 200*time.Millisecond, func() bool {
		st, _ := a.alertState(t, "ValueHigh")
		return st == ""
	}, "ValueHigh did not resolve")
	require.Equal(t, "ok", a.rules(t)["ValueHigh"].Health)
	require.Contains(t, a.Output(), `msg="Evaluating rule works again"`)
}
