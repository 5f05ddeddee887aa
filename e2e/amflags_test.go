package e2e

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// TestAlertmanagerUnitFileFlags starts alerter with the flags an
// Alertmanager unit file passes: the gossip and tuning flags are accepted
// with one warning, and the others work as in Alertmanager: the route
// prefix, CORS for matching origins, classic mode, the start delay, and
// the removed API v1 answering 410.
func TestAlertmanagerUnitFileFlags(t *testing.T) {
	t.Parallel()
	h := newHook(t)
	dir := t.TempDir()
	writeFiles(t, dir, routingOnly(h.URL))
	addr := testutil.FreeAddr(t)
	p := testutil.Start(t, testutil.AlerterBinary(t), "--config.file="+filepath.Join(dir, "alerter.yml"),
		"--storage.path="+t.TempDir(), "--web.listen-address="+addr,
		"--cluster.listen-address=", "--cluster.peer=am-1:9094", "--cluster.peer=am-2:9094", "--cluster.settle-timeout=1m",
		"--auto-gomemlimit", "--web.timeout=0", "--alerts.gc-interval=30m",
		"--web.route-prefix=/am", `--web.cors.origin=https?://dash\.example`, "--enable-feature=classic-mode",
		"--dispatch.start-delay=3s")
	base := "http://" + addr + "/am"
	testutil.WaitHTTP(t, p, base+"/-/ready", 30*time.Second)
	start := time.Now()
	require.Equal(t, 1, strings.Count(p.Output(), "Alertmanager flags are accepted and ignored"))
	require.Contains(t, p.Output(), "cluster.listen-address,cluster.peer,cluster.settle-timeout,auto-gomemlimit,web.timeout")

	// CORS: a matching origin gets the headers, and may post.
	for _, origin := range []string{"https://dash.example", "http://evil.example"} {
		req, _ := http.NewRequest(http.MethodOptions, base+"/api/v2/alerts", nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		if origin == "https://dash.example" {
			require.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
		} else {
			require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	post := func(origin, body string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v2/alerts", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, post("https://dash.example", alertJSON("Held", "page", time.Now().Add(time.Hour))))
	require.Equal(t, http.StatusForbidden, post("http://evil.example", alertJSON("Forged", "page", time.Now().Add(time.Hour))))

	// Classic mode: UTF-8 names and syntax are refused.
	code, body := postJSON(t, base+"/api/v2/alerts", `[{"labels":{"alertname":"A","00":"b"}}]`)
	require.Equal(t, http.StatusBadRequest, code, body)
	code, _, err := testutil.Get(base + "/api/v2/alerts?filter=" + url.QueryEscape("00=b"))
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, code)

	// Alertmanager's API v1 is gone, as in Alertmanager 0.27+.
	code, b, err := testutil.Get(base + "/api/v1/status")
	require.NoError(t, err)
	require.Equal(t, http.StatusGone, code)
	require.Contains(t, string(b), "removed as of version 0.27.0")

	// The start delay: nothing is notified before it has passed.
	testutil.Eventually(t, 20*time.Second, 20*time.Millisecond, func() bool { return h.count("Held", "firing") == 1 },
		"the alert was not notified after the start delay")
	require.GreaterOrEqual(t, time.Since(start), 2*time.Second, "notified before the start delay passed")
}
