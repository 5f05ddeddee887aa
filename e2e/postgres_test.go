package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// TestPostgresStorageKeepsState: with --storage.url, a silence made through
// the API is in PostgreSQL, and a new process on the same database has it.
func TestPostgresStorageKeepsState(t *testing.T) {
	t.Parallel()
	dbURL := testutil.PostgresSchema(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alerter.yml"), []byte("route: {receiver: none}\nreceivers: [{name: none}]\n"), 0o600))
	start := func() (*testutil.Process, string) {
		addr := testutil.FreeAddr(t)
		p := testutil.Start(t, testutil.AlerterBinary(t), "--config.file="+filepath.Join(dir, "alerter.yml"),
			"--storage.path="+t.TempDir(), "--storage.url="+dbURL, "--web.listen-address="+addr)
		testutil.WaitHTTP(t, p, "http://"+addr+"/-/ready", 30*time.Second)
		return p, "http://" + addr
	}
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
