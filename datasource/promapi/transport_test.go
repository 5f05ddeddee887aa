package promapi

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	commoncfg "github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"
)

// recordingServer answers vectorBody and records the headers it saw.
type recordingServer struct {
	*httptest.Server
	mu     sync.Mutex
	header http.Header
}

func newRecordingServer(t *testing.T, tls bool) *recordingServer {
	rs := &recordingServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.header = r.Header.Clone()
		rs.mu.Unlock()
		_, _ = io.WriteString(w, vectorBody)
	})
	if tls {
		rs.Server = quietTLSServer(t, h)
		return rs
	}
	rs.Server = httptest.NewServer(h)
	t.Cleanup(rs.Close)
	return rs
}

// quietTLSServer is httptest.NewTLSServer without logs of failed handshakes,
// which some tests cause on purpose.
func quietTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func (rs *recordingServer) seen() http.Header {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.header
}

func TestQueryAuth(t *testing.T) {
	basic := func(user, pass string) string {
		r, _ := http.NewRequest(http.MethodGet, "http://x", nil)
		r.SetBasicAuth(user, pass)
		return r.Header.Get("Authorization")
	}
	tests := []struct {
		name     string
		userinfo string
		cfg      commoncfg.HTTPClientConfig
		want     map[string]string
	}{
		{
			name: "basic auth",
			cfg:  commoncfg.HTTPClientConfig{BasicAuth: &commoncfg.BasicAuth{Username: "alice", Password: "pa55word"}},
			want: map[string]string{"Authorization": basic("alice", "pa55word")},
		},
		{
			name:     "basic auth in the URL",
			userinfo: "bob:urlpass@",
			want:     map[string]string{"Authorization": basic("bob", "urlpass")},
		},
		{
			name: "bearer token",
			cfg:  commoncfg.HTTPClientConfig{Authorization: &commoncfg.Authorization{Type: "Bearer", Credentials: "t0ken"}},
			want: map[string]string{"Authorization": "Bearer t0ken"},
		},
		{
			name: "legacy bearer_token",
			cfg:  commoncfg.HTTPClientConfig{BearerToken: "t0ken2"},
			want: map[string]string{"Authorization": "Bearer t0ken2"},
		},
		{
			name: "http headers",
			cfg: commoncfg.HTTPClientConfig{HTTPHeaders: &commoncfg.Headers{Headers: map[string]commoncfg.Header{
				"X-Scope-OrgID": {Values: []string{"tenant-1"}},
				"X-Api-Key":     {Secrets: []commoncfg.Secret{"k3y"}},
			}}},
			want: map[string]string{"X-Scope-Orgid": "tenant-1", "X-Api-Key": "k3y"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRecordingServer(t, false)
			u := strings.Replace(srv.URL, "http://", "http://"+tc.userinfo, 1)
			c := newClient(t, Options{URL: u, HTTPConfig: tc.cfg})
			_, err := c.Query(testContext(t), "up", evalTime)
			require.NoError(t, err)
			for k, v := range tc.want {
				require.Equal(t, v, srv.seen().Get(k), k)
			}
		})
	}
}

func TestQueryTLS(t *testing.T) {
	srv := newRecordingServer(t, true)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	require.NoError(t, os.WriteFile(caFile, cert, 0o600))

	c := newClient(t, Options{URL: srv.URL, HTTPConfig: commoncfg.HTTPClientConfig{
		TLSConfig: commoncfg.TLSConfig{CAFile: caFile},
		BasicAuth: &commoncfg.BasicAuth{Username: "alice", Password: "pa55word"},
	}})
	vec, err := c.Query(testContext(t), "up", evalTime)
	require.NoError(t, err)
	require.Len(t, vec, 1)
	user, pass, ok := (&http.Request{Header: srv.seen()}).BasicAuth()
	require.True(t, ok)
	require.Equal(t, "alice", user)
	require.Equal(t, "pa55word", pass)

	// Without the CA the server's certificate is not trusted.
	c = newClient(t, Options{URL: srv.URL})
	_, err = c.Query(testContext(t), "up", evalTime)
	require.ErrorContains(t, err, `datasource "prom" (`+srv.URL+`): request failed: tls: failed to verify certificate`)
}

// flakyServer answers vectorBody, except that the requests for which fail
// returns true get their connection closed without an answer, as a server
// does when it drops an idle keep-alive connection.
func flakyServer(t *testing.T, fail func(n int32) bool) (*httptest.Server, *atomic.Int32) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !fail(requests.Add(1)) {
			_, _ = io.WriteString(w, vectorBody)
			return
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err) // require cannot stop the test from here
			return
		}
		_ = conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

func TestQueryRetry(t *testing.T) {
	t.Run("dropped once", func(t *testing.T) {
		srv, requests := flakyServer(t, func(n int32) bool { return n == 2 })
		c := newClient(t, Options{URL: srv.URL})
		_, err := c.Query(testContext(t), "up", evalTime) // opens a keep-alive connection
		require.NoError(t, err)
		vec, err := c.Query(testContext(t), "up", evalTime)
		require.NoError(t, err)
		require.Len(t, vec, 1)
		require.EqualValues(t, 3, requests.Load())
	})
	t.Run("dropped always", func(t *testing.T) {
		srv, requests := flakyServer(t, func(n int32) bool { return n > 1 })
		c := newClient(t, Options{URL: srv.URL})
		_, err := c.Query(testContext(t), "up", evalTime)
		require.NoError(t, err)
		_, err = c.Query(testContext(t), "up", evalTime)
		require.ErrorContains(t, err, `datasource "prom" (`+srv.URL+`): after a retry: request failed: EOF`)
		require.EqualValues(t, 1+2, requests.Load(), "exactly 2 attempts")
	})
	t.Run("fresh connection is not retried", func(t *testing.T) {
		srv, requests := flakyServer(t, func(int32) bool { return true })
		c := newClient(t, Options{URL: srv.URL})
		_, err := c.Query(testContext(t), "up", evalTime)
		require.ErrorContains(t, err, `datasource "prom" (`+srv.URL+`): request failed: EOF`)
		require.EqualValues(t, 1, requests.Load())
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		c := newClient(t, Options{URL: srv.URL})
		_, err := c.Query(testContext(t), "up", evalTime)
		require.ErrorContains(t, err, `datasource "prom" (`+srv.URL+`): request failed: dial tcp`)
		require.NotContains(t, err.Error(), "after a retry")
	})
}

// TestQueryRedirect: a redirect is followed (the form re-sent) when
// follow_redirects is on, as Prometheus' HTTP client does, and is an error
// otherwise.
func TestQueryRedirect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/query" {
			http.Redirect(w, r, "/moved/api/v1/query", http.StatusTemporaryRedirect)
			return
		}
		if err := r.ParseForm(); err != nil || r.Form.Get("query") != "up" || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1700000000,"7"]}}`))
	}))
	t.Cleanup(srv.Close)

	cfg := commoncfg.DefaultHTTPClientConfig
	c := newClient(t, Options{URL: srv.URL, HTTPConfig: cfg})
	vec, err := c.Query(testContext(t), "up", evalTime)
	require.NoError(t, err)
	require.Len(t, vec, 1)
	require.Equal(t, 7.0, vec[0].F)

	cfg.FollowRedirects = false
	c = newClient(t, Options{URL: srv.URL, HTTPConfig: cfg})
	_, err = c.Query(testContext(t), "up", evalTime)
	require.ErrorContains(t, err, "HTTP 307")
}
