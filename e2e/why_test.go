package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// whyConfig routes alerts of case "failing" to a webhook that answers 500,
// the others to one that answers 200; Outage inhibits case "inhibited".
func whyConfig(okURL, brokenURL string) map[string]string {
	files := map[string]string{}
	for k, v := range demo {
		files[k] = v
	}
	files["alerter.yml"] += `
route:
  receiver: ok
  group_by: [alertname, case]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['case="failing"']
      receiver: broken
inhibit_rules:
  - source_matchers: ['alertname="Outage"']
    target_matchers: ['case="inhibited"']
receivers:
  - name: ok
    webhook_configs: [{url: '` + okURL + `'}]
  - name: broken
    webhook_configs: [{url: '` + brokenURL + `'}]
`
	return files
}

// why runs alerter why against a with args and returns its output.
func why(t *testing.T, a *alerter, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, testutil.AlerterBinary(t), append([]string{"why", "--alertmanager.url=" + a.url}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String() + errOut.String(), err
}

// TestWhyWasINotPaged: alerter why answers for a silenced alert (with the
// silence's author and comment), an inhibited one (naming the inhibitor),
// a deduplicated one (told already) and one whose delivery failed (with
// the receiver's answer and the attempts); and for the rule's own alert,
// its pending and firing evaluations and its notification.
func TestWhyWasINotPaged(t *testing.T) {
	t.Parallel()
	ok := newHook(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream on fire", http.StatusBadGateway)
	}))
	t.Cleanup(broken.Close)
	a := startAlerter(t, whyConfig(ok.URL, broken.URL), "")

	code, body := postJSON(t, a.url+"/api/v2/silences", `{"matchers":[{"name":"case","value":"silenced","isRegex":false}],
		"startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"alice","comment":"db maintenance"}`)
	require.Equal(t, http.StatusOK, code, body)
	var sil struct {
		ID string `json:"silenceID"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &sil))
	code, body = postJSON(t, a.url+"/api/v2/alerts", `[
		{"labels":{"alertname":"Why","case":"silenced"}},
		{"labels":{"alertname":"Why","case":"inhibited"}},
		{"labels":{"alertname":"Outage"}},
		{"labels":{"alertname":"Why","case":"dedup"}},
		{"labels":{"alertname":"Why","case":"failing"}}]`)
	require.Equal(t, http.StatusOK, code, body)

	// The dedup case: notified, then silenced, then the silence ends
	// within repeat_interval: not paged again, because told already.
	waitWhy := func(c, want string) {
		t.Helper()
		testutil.Eventually(t, 60*time.Second, 250*time.Millisecond, func() bool {
			out, _ := why(t, a, "alertname=Why", "case="+c)
			return strings.Contains(out, want)
		}, "alerter why for case %s never said %q", c, want)
	}
	waitWhy("dedup", "notified ok (webhook/0) as firing")
	code, body = postJSON(t, a.url+"/api/v2/silences", `{"matchers":[{"name":"case","value":"dedup","isRegex":false}],
		"startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"bob","comment":"quiet a moment"}`)
	require.Equal(t, http.StatusOK, code, body)
	var dedupSil struct {
		ID string `json:"silenceID"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &dedupSil))
	waitWhy("dedup", "silenced by silence "+dedupSil.ID+" by bob")
	req, err := http.NewRequest(http.MethodDelete, a.url+"/api/v2/silence/"+dedupSil.ID, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Each case's answer, once the flushes have happened.
	cases := map[string][]string{
		"silenced":  {"silenced", "not sent to ok: silenced by silence " + sil.ID + " by alice (\"db maintenance\"", "routed to receiver ok"},
		"inhibited": {"inhibited", `not sent to ok: inhibited by alert {alertname="Outage"}`},
		"dedup":     {"notified ok (webhook/0) as firing", "silenced by silence", "deduplicated", "not sent to ok (webhook/0): already notified at"},
		"failing":   {"failed", "notifying broken (webhook/0) failed after", "status code 502", "upstream on fire"},
	}
	for c, want := range cases {
		var out string
		logLast := func() {
			if t.Failed() {
				t.Logf("last answer of alerter why for case %s:\n%s", c, out)
			}
		}
		t.Cleanup(logLast)
		testutil.Eventually(t, 60*time.Second, 250*time.Millisecond, func() bool {
			out, _ = why(t, a, "alertname=Why", "case="+c)
			for _, w := range want {
				if !strings.Contains(out, w) {
					return false
				}
			}
			return true
		}, "alerter why for case %s never said all of %q", c, want)
		require.Contains(t, out, `Alert {alertname="Why", case="`+c+`"}`)
		require.NotContains(t, out, `case="`+other(c)+`"`, "only the alert asked about")
	}

	// The rule's own alert: its evaluations come first.
	var out string
	testutil.Eventually(t, 60*time.Second, 250*time.Millisecond, func() bool {
		out, _ = why(t, a, "alertname=Demo")
		return strings.Contains(out, "notified ok (webhook/0) as firing")
	}, "the Demo alert's timeline has no notification")
	pending, firing, sent := strings.Index(out, "pending"), strings.Index(out, "rule demo/Demo fires it (value 1)"), strings.Index(out, "notified ok")
	require.True(t, pending >= 0 && pending < firing && firing < sent, "pending, firing, then sent, in order:\n%s", out)

	// JSON for scripts; an alert nobody saw is exit 1 with a clear word.
	out, err = why(t, a, "--output=json", "alertname=Why", "case=failing")
	require.NoError(t, err, out)
	var data struct {
		Alerts []struct {
			Events []struct {
				Kind     string `json:"kind"`
				Attempts int    `json:"attempts"`
				Error    string `json:"error"`
			} `json:"events"`
		} `json:"alerts"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &data), out)
	require.Len(t, data.Alerts, 1)
	var failed int
	for _, ev := range data.Alerts[0].Events {
		if ev.Kind == "failed" {
			failed++
			require.GreaterOrEqual(t, ev.Attempts, 2, "retries folded into one event")
			require.Contains(t, ev.Error, "502")
		}
	}
	require.Positive(t, failed)
	out, err = why(t, a, "alertname=Nobody")
	require.Error(t, err)
	require.Contains(t, out, "no alert with these labels has events recorded")
	_, err = why(t, a, "alertname=~[")
	require.Error(t, err, "a bad matcher is refused")
}

// other returns a case that is not c, to check the answer is about c only.
func other(c string) string {
	if c == "silenced" {
		return "dedup"
	}
	return "silenced"
}
