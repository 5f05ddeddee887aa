package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// TestPrometheusSendsToAlerter: Debian's Prometheus, with alerter as its
// Alertmanager (alerting.alertmanagers), evaluates a rule that fires at
// once; its alert goes through alerter's routing to a webhook, with
// Prometheus' labels and annotations, and shows in alerter's API v2.
func TestPrometheusSendsToAlerter(t *testing.T) {
	t.Parallel()
	h := newHook(t)
	a := startAlerter(t, map[string]string{"alerter.yml": `
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
receivers:
  - name: hook
    webhook_configs:
      - url: '` + h.URL + `/prom'
`}, "")

	bin := testutil.Program(t, "prometheus", "prometheus")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(`
groups:
  - name: sender
    interval: 1s
    rules:
      - alert: FromPrometheus
        expr: vector(1)
        labels: {severity: ticket}
        annotations: {summary: 'sent by Prometheus'}
`), 0o600))
	host := strings.TrimPrefix(a.url, "http://")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), fmt.Appendf(nil, `
global:
  evaluation_interval: 1s
  external_labels: {cluster: e2e}
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - api_version: v2
      static_configs:
        - targets: ['%s']
`, host), 0o600))
	addr := testutil.FreeAddr(t)
	p := testutil.Start(t, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+addr, "--log.level=warn",
		// Its first send can come before it has discovered alerter (and is
		// dropped); re-send every second rather than every minute.
		"--rules.alert.resend-delay=1s")
	testutil.WaitHTTP(t, p, "http://"+addr+"/-/ready", 60*time.Second)

	testutil.Eventually(t, 60*time.Second, 200*time.Millisecond, func() bool { return len(h.messages()) > 0 },
		"Prometheus' alert was not routed to the webhook")
	m := h.messages()[0]
	require.Equal(t, "hook", m.Receiver)
	require.Len(t, m.Alerts, 1)
	require.Equal(t, map[string]string{"alertname": "FromPrometheus", "severity": "ticket", "cluster": "e2e"}, m.Alerts[0].Labels)
	require.Equal(t, "sent by Prometheus", m.Alerts[0].Annotations["summary"])
	_, body, err := testutil.Get(a.url + "/api/v2/alerts")
	require.NoError(t, err)
	require.Contains(t, string(body), `"generatorURL":"http://`, "Prometheus' generator URL is kept")
	require.Contains(t, string(body), `"receivers":[{"name":"hook"}]`)
}
