package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

type hookMessage struct {
	Version     string            `json:"version"`
	GroupKey    string            `json:"groupKey"`
	Status      string            `json:"status"`
	Receiver    string            `json:"receiver"`
	GroupLabels map[string]string `json:"groupLabels"`
	ExternalURL string            `json:"externalURL"`
	Alerts      []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
		EndsAt      time.Time         `json:"endsAt"`
		Fingerprint string            `json:"fingerprint"`
	} `json:"alerts"`
}

// routed is demo with a route to the hook: the Demo alert fires after two
// seconds and is notified after group_wait.
func routed(hookURL string) map[string]string {
	files := map[string]string{}
	for k, v := range demo {
		files[k] = v
	}
	files["alerter.yml"] += `
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: '` + hookURL + `/notify'
`
	return files
}

// TestRuleToWebhook: an alert rule's alert is notified once, in
// Alertmanager's webhook format, and not again within repeat_interval.
func TestRuleToWebhook(t *testing.T) {
	t.Parallel()
	h := newHook(t)
	a := startAlerter(t, routed(h.URL), "")
	testutil.Eventually(t, 30*time.Second, 100*time.Millisecond, func() bool { return len(h.messages()) > 0 },
		"no notification arrived")
	m := h.messages()[0]
	require.Equal(t, "4", m.Version)
	require.Equal(t, "hook", m.Receiver)
	require.Equal(t, "firing", m.Status)
	require.Equal(t, `{}:{alertname="Demo"}`, m.GroupKey)
	require.Equal(t, map[string]string{"alertname": "Demo"}, m.GroupLabels)
	require.Len(t, m.Alerts, 1)
	require.Equal(t, map[string]string{"alertname": "Demo", "instance": "a", "severity": "page"}, m.Alerts[0].Labels)
	require.Equal(t, "demo on a", m.Alerts[0].Annotations["summary"])
	require.True(t, m.Alerts[0].EndsAt.IsZero(), "a firing alert's end is hidden, as in Alertmanager")
	require.Len(t, m.Alerts[0].Fingerprint, 16)

	// Several group intervals later: still one notification.
	time.Sleep(4 * time.Second)
	require.Len(t, h.messages(), 1, "no second notification within repeat_interval")
	require.Equal(t, "1", a.metric(t, `alerter_notifications_total{integration="webhook",receiver="hook"}`))
}

// TestKillNineLosesNoSilenceAndSendsNoDuplicate kills alerter right after
// it acknowledged a silence and right after it recorded a notification: the
// silence is back after the restart, the notification is not sent again,
// and the alert is still routed.
func TestKillNineLosesNoSilenceAndSendsNoDuplicate(t *testing.T) {
	t.Parallel()
	h := newHook(t)
	a := startAlerter(t, routed(h.URL), "")

	// A silence for another alert, then kill -9 at once.
	code, body := postJSON(t, a.url+"/api/v2/silences", `{"matchers":[{"name":"alertname","value":"Other","isRegex":false}],
		"startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"e2e","comment":"kill -9 test"}`)
	require.Equal(t, http.StatusOK, code, body)
	a.Kill()
	var created struct {
		SilenceID string `json:"silenceID"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &created))

	b := startAlerterIn(t, a.dir, a.storage)
	code, body2, err := testutil.Get(b.url + "/api/v2/silence/" + created.SilenceID)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "the acknowledged silence survived kill -9")
	require.Contains(t, string(body2), "kill -9 test")

	// Wait for the notification to be recorded, then kill -9 again.
	testutil.Eventually(t, 30*time.Second, 20*time.Millisecond, func() bool {
		return b.metric(t, "alerter_notification_log_entries") == "1"
	}, "the notification was not recorded")
	b.Kill()
	require.Len(t, h.messages(), 1)

	c := startAlerterIn(t, a.dir, a.storage)
	// Demo is firing again at once (restored state) and routed to the hook.
	testutil.Eventually(t, 10*time.Second, 100*time.Millisecond, func() bool {
		_, body, err := testutil.Get(c.url + "/api/v2/alerts?filter=alertname%3D%22Demo%22")
		return err == nil && strings.Contains(string(body), `"receivers":[{"name":"hook"}]`)
	}, "Demo is not routed after the restart")
	// group_wait and several group_intervals pass: no second notification.
	time.Sleep(4 * time.Second)
	require.Len(t, h.messages(), 1, "no duplicate notification after kill -9")
	require.Equal(t, "1", c.metric(t, "alerter_notification_log_entries"))
}

func postJSON(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
