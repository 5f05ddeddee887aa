package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// amtoolConfig is a routing-only alerter: a drop-in Alertmanager.
const amtoolConfig = `
global:
  resolve_timeout: 5m
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1h
  routes:
    - receiver: pager
      matchers: ['severity="critical"']
receivers:
  - name: default
  - name: pager
    webhook_configs:
      - url: 'http://127.0.0.1:1/secret-token'
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [svc]
`

// amtool runs Debian's amtool against a; it fails the test if amtool fails.
func amtool(t *testing.T, a *alerter, args ...string) string {
	t.Helper()
	bin := testutil.Program(t, "amtool", "prometheus-alertmanager")
	cmd := exec.Command(bin, append([]string{"--alertmanager.url=" + a.url}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no amtool.yml of the user
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "amtool %s:\n%s%s", strings.Join(args, " "), out, stderr.String())
	return string(out)
}

// TestAmtool: amtool's alert, silence and config commands work against
// alerter's API v2.
func TestAmtool(t *testing.T) {
	t.Parallel()
	a := startAlerter(t, map[string]string{"alerter.yml": amtoolConfig}, "")

	amtool(t, a, "alert", "add", "alertname=DiskFull", "svc=db", "severity=warning", "--annotation=summary=disk is full")
	amtool(t, a, "alert", "add", "alertname=DBDown", "svc=db", "severity=critical")
	amtool(t, a, "alert", "add", "alertname=CPUHigh", "svc=web", "severity=warning")

	out := amtool(t, a, "alert", "query")
	require.Contains(t, out, "DBDown")
	require.Contains(t, out, "CPUHigh")
	require.NotContains(t, out, "DiskFull", "inhibited alerts are hidden by default")
	out = amtool(t, a, "alert", "query", "--inhibited")
	require.Contains(t, out, "DiskFull")

	id := strings.TrimSpace(amtool(t, a, "silence", "add", "alertname=CPUHigh", "--comment=maintenance", "--author=e2e", "--duration=2h"))
	require.Regexp(t, `^[0-9a-f-]{36}$`, id)
	out = amtool(t, a, "silence", "query")
	require.Contains(t, out, id)
	require.Contains(t, out, `alertname="CPUHigh"`)
	require.Contains(t, out, "maintenance")
	out = amtool(t, a, "alert", "query")
	require.NotContains(t, out, "CPUHigh", "silenced alerts are hidden by default")
	out = amtool(t, a, "alert", "query", "--silenced", "-o", "json")
	var alerts []struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			State      string   `json:"state"`
			SilencedBy []string `json:"silencedBy"`
		} `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &alerts), out)
	found := false
	for _, al := range alerts {
		if al.Labels["alertname"] == "CPUHigh" {
			found = true
			require.Equal(t, []string{id}, al.Status.SilencedBy)
			require.Equal(t, "suppressed", al.Status.State)
		}
	}
	require.True(t, found, out)

	// Export and import: the import makes new silences with the same matchers.
	exported := amtool(t, a, "silence", "query", "-o", "json")
	file := filepath.Join(t.TempDir(), "silences.json")
	require.NoError(t, os.WriteFile(file, []byte(exported), 0o600))
	amtool(t, a, "silence", "expire", id)
	out = amtool(t, a, "silence", "query", "-q")
	require.NotContains(t, out, id, "expired silences are not listed by default")
	out = amtool(t, a, "silence", "query", "--expired")
	require.Contains(t, out, id)
	amtool(t, a, "silence", "import", file)
	ids := strings.Fields(amtool(t, a, "silence", "query", "-q"))
	require.Len(t, ids, 1)
	require.NotEqual(t, id, ids[0])

	out = amtool(t, a, "config", "show")
	require.Contains(t, out, "receiver: pager")
	require.Contains(t, out, "<secret>")
	require.NotContains(t, out, "secret-token", "secrets are hidden")
	out = amtool(t, a, "config", "routes", "test", "--config.file="+filepath.Join(a.dir, "alerter.yml"), "severity=critical")
	require.Equal(t, "pager", strings.TrimSpace(out))
}
