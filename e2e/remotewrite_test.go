package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter/internal/testutil"
)

// remoteWriteRules are evaluated by alerter (written to Prometheus by
// remote write) and, for the alert, by Prometheus' own rule manager, so
// that the ALERTS series of both can be compared.
const remoteWriteRules = `
groups:
  - name: rw
    interval: 1s
    rules:
      - record: job:e2e_test_value:sum
        expr: sum by (job) (e2e_test_value)
        labels: {recorded: "yes"}
      - alert: ValueHigh
        expr: e2e_test_value > 0
        for: 2s
        labels: {severity: page}
`

// promSeries is one series of an instant query's answer.
type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// promQuery runs an instant query against the Prometheus at addr.
func promQuery(t *testing.T, addr, q string) []promSeries {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Result []promSeries `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, "success", out.Status, q)
	return out.Data.Result
}

func (s promSeries) value(t *testing.T) float64 {
	v, err := strconv.ParseFloat(s.Value[1].(string), 64)
	require.NoError(t, err)
	return v
}

// TestRemoteWriteToRealPrometheus: recording rules and the ALERTS and
// ALERTS_FOR_STATE series of alerting rules on a prometheus datasource go
// to Debian's Prometheus by remote write (--web.enable-remote-write-receiver),
// with the group's and the external labels and the evaluation's timestamps;
// ALERTS match what Prometheus' own rule manager writes for the same rule,
// and go stale when the alert resolves.
func TestRemoteWriteToRealPrometheus(t *testing.T) {
	t.Parallel()
	gauge, target := gaugeExporter(t)

	promDir, promAddr := t.TempDir(), testutil.FreeAddr(t)
	// Prometheus evaluates the alerting rule only: the recorded series
	// must come from alerter.
	promRules := strings.Replace(remoteWriteRules, `      - record: job:e2e_test_value:sum
        expr: sum by (job) (e2e_test_value)
        labels: {recorded: "yes"}
`, "", 1)
	require.NotEqual(t, remoteWriteRules, promRules)
	require.NoError(t, os.WriteFile(filepath.Join(promDir, "rules.yml"), []byte(promRules), 0o600))
	startPrometheusWith(t, promDir, promAddr, fmt.Sprintf(`
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: e2e
    static_configs:
      - targets: ['%s']
`, target), "--web.enable-remote-write-receiver")

	a := startAlerter(t, map[string]string{
		"alerter.yml": fmt.Sprintf(`
global:
  evaluation_interval: 1s
  external_labels: {cluster: e2e}
datasources:
  - name: prom
    type: prometheus
    url: http://%[1]s
    remote_write:
      url: http://%[1]s/api/v1/write
      queue_config: {batch_send_deadline: 200ms}
rule_files: [rules.yml]
`, promAddr),
		"rules.yml": remoteWriteRules,
	}, "")

	// The recorded series, with the rule's and the external labels, at an
	// evaluation's timestamp.
	var rec []promSeries
	testutil.Eventually(t, 30*time.Second, 200*time.Millisecond, func() bool {
		rec = promQuery(t, promAddr, `job:e2e_test_value:sum`)
		return len(rec) == 1
	}, "the recorded series never reached Prometheus")
	require.Equal(t, map[string]string{"__name__": "job:e2e_test_value:sum", "job": "e2e", "recorded": "yes", "cluster": "e2e"}, rec[0].Metric)
	require.Zero(t, rec[0].value(t))
	ts := promQuery(t, promAddr, `timestamp(job:e2e_test_value:sum)`)
	require.Len(t, ts, 1)
	at := time.UnixMilli(int64(ts[0].value(t) * 1000))
	require.WithinDuration(t, time.Now(), at, 10*time.Second, "the sample carries its evaluation's time")
	require.Equal(t, "ok", a.rules(t)["job:e2e_test_value:sum"].Health)

	gauge.Set(42)
	testutil.Eventually(t, 30*time.Second, 200*time.Millisecond, func() bool {
		rec = promQuery(t, promAddr, `job:e2e_test_value:sum`)
		return len(rec) == 1 && rec[0].value(t) == 42
	}, "the recorded series did not follow the gauge")

	// ALERTS while firing: alerter's (with the external label) and
	// Prometheus' own (without) have the same labels otherwise.
	var firing []promSeries
	testutil.Eventually(t, 30*time.Second, 200*time.Millisecond, func() bool {
		firing = promQuery(t, promAddr, `ALERTS{alertname="ValueHigh",alertstate="firing"}`)
		return len(firing) == 2
	}, "ALERTS firing from both alerter and Prometheus")
	var ours, theirs map[string]string
	for _, s := range firing {
		require.Equal(t, 1.0, s.value(t))
		if s.Metric["cluster"] == "e2e" {
			ours = s.Metric
		} else {
			theirs = s.Metric
		}
	}
	require.NotNil(t, ours, "alerter's ALERTS: %v", firing)
	require.NotNil(t, theirs, "Prometheus' ALERTS: %v", firing)
	delete(ours, "cluster")
	require.Equal(t, theirs, ours)

	forState := promQuery(t, promAddr, `ALERTS_FOR_STATE{alertname="ValueHigh"}`)
	require.Len(t, forState, 2, "ALERTS_FOR_STATE from both")
	var since []float64
	for _, s := range forState {
		require.NotContains(t, s.Metric, "alertstate")
		since = append(since, s.value(t))
	}
	require.InDelta(t, since[0], since[1], 5, "both hold when the alert became active (Unix seconds)")

	// Resolved: alerter's ALERTS series go stale (a stale marker), as
	// Prometheus' own do.
	gauge.Set(0)
	testutil.Eventually(t, 30*time.Second, 200*time.Millisecond, func() bool {
		return len(promQuery(t, promAddr, `ALERTS{alertname="ValueHigh"}`)) == 0 &&
			len(promQuery(t, promAddr, `ALERTS_FOR_STATE{alertname="ValueHigh"}`)) == 0
	}, "ALERTS and ALERTS_FOR_STATE did not go stale after the alert resolved")
	sent, err := strconv.ParseFloat(a.metric(t, `alerter_remote_storage_samples_total{remote="prom"}`), 64)
	require.NoError(t, err)
	require.Positive(t, sent)
	require.Equal(t, "0", a.metric(t, `alerter_remote_storage_samples_dropped_total{reason="refused",remote="prom"}`))
}

// TestRemoteWriteEndpointFailing: while the remote-write endpoint hangs,
// answers 500 or answers 400, evaluation goes on at every interval (none
// missed), the queue stays within its capacity, and the samples are
// dropped (queue full, refused) or retried and sent once the endpoint
// recovers, each counted.
func TestRemoteWriteEndpointFailing(t *testing.T) {
	t.Parallel()
	_, target := gaugeExporter(t)
	promAddr := testutil.FreeAddr(t)
	startPrometheus(t, target, t.TempDir(), promAddr)

	var mode atomic.Value // "hang", "500", "400", "ok"
	mode.Store("hang")
	release := make(chan struct{})
	var taken atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case "hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
			http.Error(w, "released", http.StatusServiceUnavailable)
		case "500":
			http.Error(w, "overloaded", http.StatusInternalServerError)
		case "400":
			http.Error(w, "out of order sample", http.StatusBadRequest)
		default:
			_, _ = io.Copy(io.Discard, r.Body)
			taken.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer endpoint.Close()
	defer close(release)

	var rules strings.Builder
	rules.WriteString("groups:\n  - name: rw\n    interval: 1s\n    rules:\n")
	for i := range 50 {
		fmt.Fprintf(&rules, "      - record: e2e:rec:%d\n        expr: vector(%d)\n", i, i)
	}
	a := startAlerter(t, map[string]string{
		"alerter.yml": fmt.Sprintf(`
global: {evaluation_interval: 1s}
datasources:
  - name: prom
    type: prometheus
    url: http://%s
    remote_write:
      url: %s/api/v1/write
      remote_timeout: 1h
      queue_config: {capacity: 60, max_shards: 1, max_samples_per_send: 20, batch_send_deadline: 100ms, min_backoff: 50ms, max_backoff: 200ms}
rule_files: [rules.yml]
`, promAddr, endpoint.URL),
		"rules.yml": rules.String(),
	}, "")
	num := func(series string) float64 {
		v, err := strconv.ParseFloat(a.metric(t, series), 64)
		require.NoError(t, err, series)
		return v
	}
	const (
		iterations = `alerter_rule_group_iterations_total{rule_group="` // prefix; the key holds the file
		pending    = `alerter_remote_storage_samples_pending{remote="prom"}`
		sent       = `alerter_remote_storage_samples_total{remote="prom"}`
		full       = `alerter_remote_storage_samples_dropped_total{reason="queue_full",remote="prom"}`
		refused    = `alerter_remote_storage_samples_dropped_total{reason="refused",remote="prom"}`
		retried    = `alerter_remote_storage_samples_retried_total{remote="prom"}`
	)
	groupMetric := func(prefix string) float64 {
		_, body, err := testutil.Get(a.url + "/metrics")
		require.NoError(t, err)
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, prefix) {
				f := strings.Fields(line)
				v, err := strconv.ParseFloat(f[len(f)-1], 64)
				require.NoError(t, err)
				return v
			}
		}
		return 0
	}

	// Hanging: evaluations go on, the queue is full and drops.
	testutil.Eventually(t, 30*time.Second, 200*time.Millisecond, func() bool { return num(full) > 100 },
		"the queue never filled while the endpoint hung")
	it0 := groupMetric(iterations)
	time.Sleep(3 * time.Second)
	require.GreaterOrEqual(t, groupMetric(iterations)-it0, 2.0, "evaluations go on while the endpoint hangs")
	require.Zero(t, groupMetric(`alerter_rule_group_iterations_missed_total{rule_group="`), "no evaluation missed")
	require.LessOrEqual(t, num(pending), 80.0, "at most the capacity and the batch being sent")
	require.Zero(t, num(sent))

	// 500s: retried.
	mode.Store("500")
	release <- struct{}{} // the hanging request ends (503: retried)
	testutil.Eventually(t, 20*time.Second, 200*time.Millisecond, func() bool { return num(retried) > 0 }, "500s were not retried")
	// Recovered: the retried and the new samples are taken.
	mode.Store("ok")
	testutil.Eventually(t, 20*time.Second, 200*time.Millisecond, func() bool { return num(sent) >= 100 }, "nothing sent after the endpoint recovered")
	// 400: dropped, not retried.
	mode.Store("400")
	testutil.Eventually(t, 20*time.Second, 200*time.Millisecond, func() bool { return num(refused) > 0 }, "400s were not counted as refused")
	require.Zero(t, groupMetric(`alerter_rule_group_iterations_missed_total{rule_group="`), "no evaluation missed")
	testutil.Eventually(t, 10*time.Second, 200*time.Millisecond, func() bool { return a.rules(t)["e2e:rec:0"].Health == "ok" },
		"the recording rule stayed unhealthy once the queue had room")
}

// TestCorpusRecordingRulesReachPrometheus: kube-prometheus' node-exporter
// rule file, from the corpus as it is, runs on a prometheus datasource with
// remote write, against Debian's Prometheus scraping Debian's node exporter
// (job "node-exporter", as the rules expect): every recording rule is
// evaluated, and each whose expression has an answer there has its series
// written back, with the external label.
func TestCorpusRecordingRulesReachPrometheus(t *testing.T) {
	t.Parallel()
	neAddr, promAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	ne := testutil.Start(t, testutil.Program(t, "prometheus-node-exporter", "prometheus-node-exporter"),
		"--web.listen-address="+neAddr, "--log.level=warn")
	testutil.WaitHTTP(t, ne, "http://"+neAddr+"/metrics", 30*time.Second)
	startPrometheusWith(t, t.TempDir(), promAddr, fmt.Sprintf(`
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: node-exporter
    static_configs: [{targets: ['%s']}]
`, neAddr), "--web.enable-remote-write-receiver")

	src, err := os.ReadFile(filepath.Join(testutil.CorpusDir(t), "kube-prometheus/rules/nodeExporter.rules.yaml"))
	require.NoError(t, err)
	// Every 2s instead of the file's default, so that the test is short.
	a := startAlerter(t, map[string]string{
		"alerter.yml": fmt.Sprintf(`
global: {evaluation_interval: 2s, external_labels: {cluster: e2e}}
datasources:
  - name: prom
    type: prometheus
    url: http://%[1]s
    remote_write: {url: 'http://%[1]s/api/v1/write', queue_config: {batch_send_deadline: 200ms}}
rule_files: [node.yml]
`, promAddr),
		"node.yml": string(src),
	}, "")

	var records []apiRule
	testutil.Eventually(t, 30*time.Second, 500*time.Millisecond, func() bool {
		records = records[:0]
		for _, r := range a.rules(t) {
			if r.Type == "recording" {
				records = append(records, r)
			}
		}
		for _, r := range records {
			if r.Health != "ok" {
				return false
			}
		}
		return len(records) > 0
	}, "the recording rules were not all evaluated: %+v", records)
	require.Len(t, records, strings.Count(string(src), "record:"))

	// Each rule's expression, asked of Prometheus, against its recorded
	// series there.
	exprs := map[string]string{}
	var file struct {
		Groups []struct {
			Rules []struct{ Record, Expr string }
		}
	}
	require.NoError(t, yaml.Unmarshal(src, &file))
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				exprs[r.Record] = r.Expr
			}
		}
	}
	written := 0
	testutil.Eventually(t, 60*time.Second, time.Second, func() bool {
		written = 0
		for name, expr := range exprs {
			want := len(promQuery(t, promAddr, expr))
			got := promQuery(t, promAddr, name+`{cluster="e2e"}`)
			if len(got) < want {
				return false
			}
			if want > 0 {
				written++
			}
		}
		// Rates need two scrapes: until most rules have an answer in
		// Prometheus there is little to compare.
		return written >= 5
	}, "a recorded series with an answer in Prometheus was not written back, or fewer than 5 rules had an answer")
	t.Logf("%d of %d recording rules had an answer and were written back", written, len(exprs))
}
