// Package e2e runs the alerter binary as users do: against a real
// Prometheus, through restarts and kill -9, with bad input.
package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// alerter is a running alerter binary.
type alerter struct {
	*testutil.Process
	url     string
	dir     string // holds the config
	storage string
}

// startAlerter writes files (name → content) into a new folder and runs
// alerter on its alerter.yml, with storage in storageDir (a new folder
// when empty), and waits until it is ready.
func startAlerter(t *testing.T, files map[string]string, storageDir string) *alerter {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return startAlerterIn(t, dir, storageDir)
}

// writeFiles writes files (name → content) into dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
}

func startAlerterIn(t *testing.T, dir, storageDir string) *alerter {
	t.Helper()
	if storageDir == "" {
		storageDir = t.TempDir()
	}
	addr := testutil.FreeAddr(t)
	p := testutil.Start(t, testutil.AlerterBinary(t),
		"--config.file="+filepath.Join(dir, "alerter.yml"),
		"--storage.path="+storageDir,
		"--web.listen-address="+addr,
		"--log.level=debug")
	a := &alerter{Process: p, url: "http://" + addr, dir: dir, storage: storageDir}
	testutil.WaitHTTP(t, p, a.url+"/-/ready", 30*time.Second)
	return a
}

// apiAlert is an alert of /api/v1/alerts.
type apiAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	ActiveAt    time.Time         `json:"activeAt"`
	Value       string            `json:"value"`
}

func (a *alerter) alerts(t *testing.T) []apiAlert {
	t.Helper()
	code, body, err := testutil.Get(a.url + "/api/v1/alerts")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, string(body))
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []apiAlert `json:"alerts"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &resp), string(body))
	require.Equal(t, "success", resp.Status)
	return resp.Data.Alerts
}

// alertState returns the state of the alert named name ("" when absent).
func (a *alerter) alertState(t *testing.T, name string) (string, apiAlert) {
	for _, al := range a.alerts(t) {
		if al.Labels["alertname"] == name {
			return al.State, al
		}
	}
	return "", apiAlert{}
}

// apiRule is a rule of /api/v1/rules.
type apiRule struct {
	Name      string `json:"name"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	State     string `json:"state"`
	Type      string `json:"type"`
}

func (a *alerter) rules(t *testing.T) map[string]apiRule {
	t.Helper()
	code, body, err := testutil.Get(a.url + "/api/v1/rules")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	var resp struct {
		Data struct {
			Groups []struct {
				Name  string    `json:"name"`
				Rules []apiRule `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &resp), string(body))
	out := map[string]apiRule{}
	for _, g := range resp.Data.Groups {
		for _, r := range g.Rules {
			out[r.Name] = r
		}
	}
	return out
}

// metric returns the value of the first sample of /metrics whose line
// starts with series (a name, optionally with labels), or "" if none.
func (a *alerter) metric(t *testing.T, series string) string {
	t.Helper()
	_, body, err := testutil.Get(a.url + "/metrics")
	require.NoError(t, err)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimSpace(strings.TrimPrefix(line, series))
		}
	}
	return ""
}

// post sends an empty POST and returns the status and body.
func post(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
