package web

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	toolkit "github.com/prometheus/exporter-toolkit/web"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// TestBasicAuthGuardsUIAndAPI serves the handler as cmd/alerter does, with
// exporter-toolkit and a web config file holding a bcrypt hash: every page
// and API endpoint needs the credentials.
func TestBasicAuthGuardsUIAndAPI(t *testing.T) {
	e := newUIEnv(t, Options{})
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	require.NoError(t, err)
	cfg := filepath.Join(t.TempDir(), "web.yml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, "basic_auth_users:\n  admin: %s\n", hash), 0o600))
	require.NoError(t, toolkit.Validate(cfg))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: New(Options{
		Rules: groups(), Routing: e.routing, Silences: e.sils, Version: "1",
	})}
	systemd := false
	addr := ln.Addr().String()
	done := make(chan error, 1)
	go func() {
		done <- toolkit.Serve(ln, srv, &toolkit.FlagConfig{
			WebListenAddresses: &[]string{addr}, WebSystemdSocket: &systemd, WebConfigFile: &cfg,
		}, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	})

	for _, p := range []string{"/", "/silences", "/silences/new", "/rules", "/routes", "/status", "/static/style.css", "/api/v2/alerts", "/api/v1/rules"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+p, nil)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s without credentials", p)

		req.SetBasicAuth("admin", "wrong")
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s with a wrong password", p)

		req.SetBasicAuth("admin", "s3cret")
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s with credentials", p)
	}

	// The silence form proposes the signed-in user as its author.
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/silences/new", nil)
	req.SetBasicAuth("admin", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), `name="createdBy" value="admin"`)
}
