package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// startOnPostgres runs alerter, routing only, with its state in the
// PostgreSQL database dbURL, and returns it once ready with its base URL.
func startOnPostgres(t *testing.T, dbURL string) (*testutil.Process, string) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alerter.yml"), []byte("route: {receiver: none}\nreceivers: [{name: none}]\n"), 0o600))
	addr := testutil.FreeAddr(t)
	p := testutil.Start(t, testutil.AlerterBinary(t), "--config.file="+filepath.Join(dir, "alerter.yml"),
		"--storage.path="+t.TempDir(), "--storage.url="+dbURL, "--web.listen-address="+addr)
	testutil.WaitHTTP(t, p, "http://"+addr+"/-/ready", 30*time.Second)
	return p, "http://" + addr
}

// TestPostgresStorageKeepsState: with --storage.url, a silence made through
// the API is in PostgreSQL, and a new process on the same database has it.
func TestPostgresStorageKeepsState(t *testing.T) {
	t.Parallel()
	dbURL := testutil.PostgresSchema(t)
	start := func() (*testutil.Process, string) { return startOnPostgres(t, dbURL) }
	p, base := start()
	code, body := postJSON(t, base+"/api/v2/silences", `{"matchers":[{"name":"team","value":"db","isRegex":false}],
		"startsAt":"2026-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"pg-test","comment":"kept in PostgreSQL"}`)
	require.Equal(t, http.StatusOK, code, body)
	p.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, p.Wait(t, 30*time.Second))

	_, base = start()
	code, got, err := testutil.Get(base + "/api/v2/silences")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(got), "kept in PostgreSQL")
}

// TestPostgresProcessesShareSilences: two alerter processes on one
// PostgreSQL database: a silence made on one mutes on the other, and its
// expiry there too, each within about a second (measured, not asserted).
func TestPostgresProcessesShareSilences(t *testing.T) {
	t.Parallel()
	dbURL := testutil.PostgresSchema(t)
	start := func() string {
		_, base := startOnPostgres(t, dbURL)
		return base
	}
	a, b := start(), start()
	code, body := postJSON(t, a+"/api/v2/silences", `{"matchers":[{"name":"team","value":"db","isRegex":false}],
		"startsAt":"2026-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":"made on a"}`)
	require.Equal(t, http.StatusOK, code, body)
	var made struct {
		ID string `json:"silenceID"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &made))
	state := func(base string) string {
		code, got, err := testutil.Get(base + "/api/v2/silence/" + made.ID)
		if err != nil || code != http.StatusOK {
			return ""
		}
		var s struct {
			Status struct {
				State string `json:"state"`
			} `json:"status"`
		}
		_ = json.Unmarshal(got, &s)
		return s.Status.State
	}
	t0 := time.Now()
	testutil.Eventually(t, 10*time.Second, 50*time.Millisecond, func() bool { return state(b) == "active" },
		"the silence made on a did not reach b")
	t.Logf("a silence made on one process applied on the other after %v", time.Since(t0).Round(time.Millisecond))

	req, err := http.NewRequest(http.MethodDelete, b+"/api/v2/silence/"+made.ID, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	t0 = time.Now()
	testutil.Eventually(t, 10*time.Second, 50*time.Millisecond, func() bool { return state(a) == "expired" },
		"the expiry on b did not reach a")
	t.Logf("its expiry on the other applied on the first after %v", time.Since(t0).Round(time.Millisecond))
}

// TestPostgresReplicasListEachOther: processes sharing a PostgreSQL
// database list each other in /api/v2/status (Alertmanager's cluster
// object, which amtool cluster show prints); one that stops leaves the list.
func TestPostgresReplicasListEachOther(t *testing.T) {
	t.Parallel()
	dbURL := testutil.PostgresSchema(t)
	start := func() (*testutil.Process, string) { return startOnPostgres(t, dbURL) }
	type status struct {
		Cluster struct {
			Name   string `json:"name"`
			Status string `json:"status"`
			Peers  []struct {
				Name    string `json:"name"`
				Address string `json:"address"`
			} `json:"peers"`
		} `json:"cluster"`
	}
	get := func(base string) status {
		code, body, err := testutil.Get(base + "/api/v2/status")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
		var s status
		require.NoError(t, json.Unmarshal(body, &s))
		return s
	}
	pa, a := start()
	_, b := start()
	var s status
	testutil.Eventually(t, 10*time.Second, 100*time.Millisecond, func() bool {
		s = get(b)
		return len(s.Cluster.Peers) == 2
	}, "b does not list both replicas")
	require.Equal(t, "ready", s.Cluster.Status)
	names := []string{s.Cluster.Peers[0].Name, s.Cluster.Peers[1].Name}
	require.Contains(t, names, s.Cluster.Name)
	require.Contains(t, names, get(a).Cluster.Name)
	require.NotEqual(t, get(a).Cluster.Name, s.Cluster.Name)

	out, err := exec.Command(testutil.Program(t, "amtool", "prometheus-alertmanager"), "cluster", "show", "-o", "extended", "--alertmanager.url="+b).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), s.Cluster.Name)
	require.Contains(t, string(out), get(a).Cluster.Name)

	pa.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, pa.Wait(t, 30*time.Second))
	testutil.Eventually(t, 10*time.Second, 100*time.Millisecond, func() bool {
		return len(get(b).Cluster.Peers) == 1
	}, "a stopped replica is still listed")
}

// TestPostgresURLFromConfig: storage.url in alerter.yml (no flag) puts the
// state in PostgreSQL, with storage.password_file for the password; the
// process is a replica of the cluster.
func TestPostgresURLFromConfig(t *testing.T) {
	t.Parallel()
	dbURL := testutil.PostgresSchema(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pw"), []byte("unused-with-trust\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alerter.yml"), []byte("storage:\n  url: '"+dbURL+"'\n  password_file: pw\n"+
		"route: {receiver: none}\nreceivers: [{name: none}]\n"), 0o600))
	addr := testutil.FreeAddr(t)
	p := testutil.Start(t, testutil.AlerterBinary(t), "--config.file="+filepath.Join(dir, "alerter.yml"),
		"--storage.path="+t.TempDir(), "--web.listen-address="+addr)
	testutil.WaitHTTP(t, p, "http://"+addr+"/-/ready", 30*time.Second)
	code, body, err := testutil.Get("http://" + addr + "/api/v2/status")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"status":"ready"`, "a replica of the cluster: %s", body)
	require.NotContains(t, p.Output(), "unused-with-trust", "the password is never logged")
}
