package promapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"
)

const (
	urlUser      = "alice"
	urlPassword  = "urlPa55word"
	queryToken   = "qT0ken-1234"
	basicPass    = "basicPa55"
	bearerToken  = "bearer-T0ken-xyz"
	headerSecret = "hdr-S3cret"
)

// secrets are the strings that must never appear in an error.
var secrets = []string{
	urlPassword, queryToken, basicPass, bearerToken, headerSecret,
	base64.StdEncoding.EncodeToString([]byte(urlUser + ":" + urlPassword)),
	base64.StdEncoding.EncodeToString([]byte("bob:" + basicPass)),
}

// requireNoSecrets checks err's text and the text of every error it wraps.
func requireNoSecrets(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	texts := []string{fmt.Sprintf("%+v", err)}
	for q := []error{err}; len(q) > 0; q = q[1:] {
		texts = append(texts, q[0].Error())
		switch u := q[0].(type) {
		case interface{ Unwrap() error }:
			if e := u.Unwrap(); e != nil {
				q = append(q, e)
			}
		case interface{ Unwrap() []error }:
			q = append(q, u.Unwrap()...)
		}
	}
	for _, text := range texts {
		for _, s := range secrets {
			require.NotContains(t, text, s)
		}
	}
}

// echo is what a careless proxy might answer: the request URL and headers.
func echo(r *http.Request) string {
	return fmt.Sprintf("%s %s %v", r.Method, r.RequestURI, r.Header)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestNoSecretsInErrors(t *testing.T) {
	handlers := map[string]http.HandlerFunc{
		"400 bad_data": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":%s}`, jsonString(echo(r)))
		},
		"502 html": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "<html>\n<p>%s</p>", echo(r))
		},
		"502 html after padding": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "<html>%s<p>%s</p>", strings.Repeat(" ", 250), echo(r))
		},
		"200 status error": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"status":"error","errorType":%s,"error":%s}`, jsonString(echo(r)), jsonString(echo(r)))
		},
		"200 malformed": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"status":"success","data":%s`, echo(r))
		},
		"200 bad value": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,%s]}]}}`,
				jsonString(r.RequestURI))
		},
		"200 duplicate label": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{%[1]s:"1",%[1]s:"2"},"value":[1,"1"]}]}}`,
				jsonString(r.Header.Get("Authorization")))
		},
		"200 other result type": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"status":%[1]s,"data":{"resultType":%[1]s,"result":[]}}`, jsonString(echo(r)))
		},
		"timeout": func(_ http.ResponseWriter, r *http.Request) {
			// Reading the body lets the server notice the client hang up.
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		},
		"dropped connection": func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		},
	}
	configs := map[string]commoncfg.HTTPClientConfig{
		"basic auth": {
			BasicAuth:   &commoncfg.BasicAuth{Username: "bob", Password: basicPass},
			HTTPHeaders: &commoncfg.Headers{Headers: map[string]commoncfg.Header{"X-Key": {Secrets: []commoncfg.Secret{headerSecret}}}},
		},
		"bearer": {
			Authorization: &commoncfg.Authorization{Type: "Bearer", Credentials: bearerToken},
			HTTPHeaders:   &commoncfg.Headers{Headers: map[string]commoncfg.Header{"X-Key": {Secrets: []commoncfg.Secret{headerSecret}}}},
		},
	}
	withSecrets := func(base string) string {
		return strings.Replace(base, "://", "://"+urlUser+":"+urlPassword+"@", 1) + "/prefix?token=" + queryToken
	}
	for cfgName, cfg := range configs {
		for name, h := range handlers {
			t.Run(cfgName+"/"+name, func(t *testing.T) {
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)
				c := newClient(t, Options{URL: withSecrets(srv.URL), HTTPConfig: cfg, Timeout: 50 * time.Millisecond})
				_, err := c.Query(testContext(t), "up", evalTime)
				requireNoSecrets(t, err)
				require.ErrorContains(t, err, `(http://alice:xxxxx@127.0.0.1:`)
				require.ErrorContains(t, err, `/prefix?token=xxxxx): `)
			})
		}
		t.Run(cfgName+"/connection refused", func(t *testing.T) {
			srv := httptest.NewServer(http.NotFoundHandler())
			srv.Close()
			c := newClient(t, Options{URL: withSecrets(srv.URL), HTTPConfig: cfg})
			_, err := c.Query(testContext(t), "up", evalTime)
			requireNoSecrets(t, err)
		})
		t.Run(cfgName+"/untrusted TLS", func(t *testing.T) {
			srv := quietTLSServer(t, http.NotFoundHandler())
			c := newClient(t, Options{URL: withSecrets(srv.URL), HTTPConfig: cfg})
			_, err := c.Query(testContext(t), "up", evalTime)
			requireNoSecrets(t, err)
		})
		t.Run(cfgName+"/retried", func(t *testing.T) {
			srv, _ := flakyServer(t, func(n int32) bool { return n > 1 })
			c := newClient(t, Options{URL: withSecrets(srv.URL), HTTPConfig: cfg})
			_, err := c.Query(testContext(t), "up", evalTime)
			require.NoError(t, err)
			_, err = c.Query(testContext(t), "up", evalTime)
			require.ErrorContains(t, err, "after a retry")
			requireNoSecrets(t, err)
		})
	}
	t.Run("String", func(t *testing.T) {
		c := newClient(t, Options{URL: withSecrets("http://127.0.0.1:9090"), HTTPConfig: configs["bearer"]})
		require.Equal(t, "http://alice:xxxxx@127.0.0.1:9090/prefix?token=xxxxx", c.String())
		require.Equal(t, c.String(), fmt.Sprint(c))
	})
	t.Run("New", func(t *testing.T) {
		_, err := New(Options{Name: "p", URL: withSecrets("http://127.0.0.1:9090/%zz")})
		requireNoSecrets(t, err)
		_, err = New(Options{Name: "p", URL: withSecrets("ftp://127.0.0.1:9090")})
		requireNoSecrets(t, err)
		both := configs["bearer"]
		both.BasicAuth = configs["basic auth"].BasicAuth
		_, err = New(Options{Name: "p", URL: withSecrets("http://127.0.0.1:9090"), HTTPConfig: both})
		requireNoSecrets(t, err)
		require.ErrorContains(t, err, "http_config")
	})
}

// TestAPIErrorFieldsScrubbed checks that an echoed secret is scrubbed from the
// fields of APIError too, not only from its text.
func TestAPIErrorFieldsScrubbed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"status":"error","errorType":"bad_data","error":`+jsonString(echo(r))+`}`)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, Options{URL: srv.URL + "?token=" + queryToken})
	_, err := c.Query(testContext(t), "up", evalTime)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Contains(t, apiErr.Message, "/api/v1/query?token=xxxxx")
	require.NotContains(t, apiErr.Message, queryToken)
}
