package promapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
)

const vectorBody = `{"status":"success","data":{"resultType":"vector","result":[` +
	`{"metric":{"__name__":"up","job":"api"},"value":[1700000000.123,"1"]}]}}`

var evalTime = time.UnixMilli(1700000000123)

// newClient returns a Client named "prom" for opts.
func newClient(t testing.TB, opts Options) *Client {
	t.Helper()
	opts.Name = "prom"
	c, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// serve starts a server that answers every request with status and body.
func serve(t testing.TB, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// testContext bounds a test so that a bug cannot make it hang.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestQueryResults(t *testing.T) {
	tests := []struct {
		name string
		body string
		want promql.Vector
		err  string
	}{
		{
			name: "vector",
			body: `{"status":"success","data":{"resultType":"vector","result":[
				{"metric":{"__name__":"up","job":"api"},"value":[1700000000.123,"1"]},
				{"metric":{"__name__":"up","job":"db"},"value":[1700000000.123,"NaN"]},
				{"metric":{"job":"x"},"value":[1700000000.123,"+Inf"]},
				{"metric":{"job":"y"},"value":[1700000000.123,"-Inf"]}]},"warnings":["partial"]}`,
			want: promql.Vector{
				{Metric: labels.FromStrings("__name__", "up", "job", "api"), T: 1700000000123, F: 1},
				{Metric: labels.FromStrings("__name__", "up", "job", "db"), T: 1700000000123, F: math.NaN()},
				{Metric: labels.FromStrings("job", "x"), T: 1700000000123, F: math.Inf(1)},
				{Metric: labels.FromStrings("job", "y"), T: 1700000000123, F: math.Inf(-1)},
			},
		},
		{
			name: "empty vector",
			body: `{"status":"success","data":{"resultType":"vector","result":[]}}`,
			want: promql.Vector{},
		},
		{
			name: "scalar",
			body: `{"status":"success","data":{"resultType":"scalar","result":[1700000000.123,"3.5"]}}`,
			want: promql.Vector{{Metric: labels.EmptyLabels(), T: 1700000000123, F: 3.5}},
		},
		{
			name: "histogram",
			body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"h"},` +
				`"histogram":[1700000000.123,{"count":"2","sum":"3","buckets":[[3,"-0.5","0.5","2"]]}]}]}}`,
			want: promql.Vector{{Metric: labels.FromStrings("__name__", "h"), T: 1700000000123}},
		},
		{
			name: "matrix",
			body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}`,
			err:  `datasource "prom" (http://127.0.0.1:PORT): rule result is not a vector or scalar (got matrix)`,
		},
		{
			name: "string",
			body: `{"status":"success","data":{"resultType":"string","result":[1,"s"]}}`,
			err:  `rule result is not a vector or scalar (got string)`,
		},
		{
			name: "no result",
			body: `{"status":"success","data":{"resultType":"vector"}}`,
			err:  `invalid response: no data.result`,
		},
		{
			name: "no data",
			body: `{"status":"success"}`,
			err:  `invalid response: no data.resultType`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, http.StatusOK, tc.body)
			c := newClient(t, Options{URL: srv.URL})
			got, err := c.Query(testContext(t), "up", evalTime)
			if tc.err != "" {
				port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
				require.ErrorContains(t, err, strings.ReplaceAll(tc.err, "PORT", port))
				return
			}
			require.NoError(t, err)
			requireVector(t, tc.want, got)
		})
	}
}

func TestQueryRequest(t *testing.T) {
	type seen struct {
		method, path, tenant, contentType, userAgent, query, time string
	}
	var (
		mu  sync.Mutex
		got seen
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		mu.Lock()
		got = seen{
			method:      r.Method,
			path:        r.URL.Path,
			tenant:      r.URL.Query().Get("tenant"),
			contentType: r.Header.Get("Content-Type"),
			userAgent:   r.UserAgent(),
			query:       r.PostForm.Get("query"),
			time:        r.PostForm.Get("time"),
		}
		mu.Unlock()
		_, _ = io.WriteString(w, vectorBody)
	}))
	t.Cleanup(srv.Close)

	const expr = `sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) > 0.1 & on() vector(1)`
	tests := []struct {
		url, userAgent string
		want           seen
	}{
		{
			url:  srv.URL,
			want: seen{path: "/api/v1/query", userAgent: "alerter"},
		},
		{
			url:       srv.URL + "/prefix/prom/?tenant=a%26b",
			userAgent: "alerter/1.2.3",
			want:      seen{path: "/prefix/prom/api/v1/query", tenant: "a&b", userAgent: "alerter/1.2.3"},
		},
	}
	for _, tc := range tests {
		c := newClient(t, Options{URL: tc.url, UserAgent: tc.userAgent})
		_, err := c.Query(testContext(t), expr, evalTime)
		require.NoError(t, err)
		tc.want.method = http.MethodPost
		tc.want.contentType = "application/x-www-form-urlencoded"
		tc.want.query = expr
		tc.want.time = "1700000000.123"
		mu.Lock()
		require.Equal(t, tc.want, got)
		mu.Unlock()
	}
	require.Equal(t, "query=up&time=1700000000.000", formBody("up", time.UnixMilli(1700000000000)))
	require.Equal(t, "query=a%7Bb%3D%22c+d%22%7D&time=1.500", formBody(`a{b="c d"}`, time.UnixMilli(1500)))
}

func TestQueryAPIErrors(t *testing.T) {
	html := "<html>\r\n<head><title>502 Bad Gateway</title></head>\n<body>\t" +
		strings.Repeat("nginx ", 100) + "</body></html>"
	tests := []struct {
		name   string
		status int
		body   string
		want   *APIError // URL and Datasource are filled in
		err    string
	}{
		{
			name:   "bad data",
			status: http.StatusBadRequest,
			body:   `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected \"}\""}`,
			want:   &APIError{StatusCode: 400, ErrorType: "bad_data", Message: `1:5: parse error: unexpected "}"`},
			err:    `query failed with HTTP 400 Bad Request: bad_data: 1:5: parse error: unexpected "}"`,
		},
		{
			name:   "execution",
			status: http.StatusUnprocessableEntity,
			body:   `{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}`,
			want:   &APIError{StatusCode: 422, ErrorType: "execution", Message: "many-to-many matching not allowed"},
			err:    `HTTP 422 Unprocessable Entity: execution: many-to-many matching not allowed`,
		},
		{
			name:   "unavailable",
			status: http.StatusServiceUnavailable,
			body:   `{"status":"error","errorType":"unavailable","error":"TSDB not ready"}`,
			want:   &APIError{StatusCode: 503, ErrorType: "unavailable", Message: "TSDB not ready"},
			err:    `HTTP 503 Service Unavailable: unavailable: TSDB not ready`,
		},
		{
			name:   "proxy page",
			status: http.StatusBadGateway,
			body:   html,
			want: &APIError{StatusCode: 502, Body: "<html> <head><title>502 Bad Gateway</title></head> <body> " +
				strings.Repeat("nginx ", 33) + "..."},
			err: `HTTP 502 Bad Gateway: response body "<html> <head><title>502 Bad Gateway</title></head> <body> nginx`,
		},
		{
			name:   "empty body",
			status: http.StatusServiceUnavailable,
			want:   &APIError{StatusCode: 503},
			err:    `HTTP 503 Service Unavailable: response body ""`,
		},
		{
			name:   "status error with 200",
			status: http.StatusOK,
			body:   `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`,
			want:   &APIError{StatusCode: 200, ErrorType: "timeout", Message: "query timed out in expression evaluation"},
			err:    `HTTP 200 OK: timeout: query timed out in expression evaluation`,
		},
		{
			name:   "malformed JSON",
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"vector","result":[{]}}`,
			err:    `invalid response (HTTP 200): sample 0: invalid JSON at offset 61: expected string; body: "{\"status\"`,
		},
		{
			name:   "unknown status",
			status: http.StatusOK,
			body:   `{"status":"pending"}`,
			err:    `invalid response (HTTP 200): status "pending"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				requests.Add(1)
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			c := newClient(t, Options{URL: srv.URL})
			_, err := c.Query(testContext(t), "up", evalTime)
			require.ErrorContains(t, err, `datasource "prom" (`+srv.URL+`): `)
			require.ErrorContains(t, err, tc.err)
			require.NotContains(t, err.Error(), "\n")
			require.EqualValues(t, 1, requests.Load(), "HTTP errors are not retried")
			var apiErr *APIError
			if tc.want == nil {
				require.NotErrorAs(t, err, &apiErr)
				return
			}
			require.ErrorAs(t, err, &apiErr)
			tc.want.Datasource, tc.want.URL = "prom", srv.URL
			require.Equal(t, tc.want, apiErr)
			require.LessOrEqual(t, len(apiErr.Body), excerptLen+3)
		})
	}
}

func TestQueryTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client hang up
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close

	c := newClient(t, Options{URL: srv.URL, Timeout: 50 * time.Millisecond})
	_, err := c.Query(testContext(t), "up", evalTime)
	require.EqualError(t, err, `datasource "prom" (`+srv.URL+`): query timed out after 50ms: context deadline exceeded`)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A caller's deadline shorter than the timeout bounds the query too.
	c = newClient(t, Options{URL: srv.URL, Timeout: time.Hour})
	ctx, cancel := context.WithTimeout(testContext(t), 50*time.Millisecond)
	defer cancel()
	_, err = c.Query(ctx, "up", evalTime)
	require.ErrorContains(t, err, "query timed out after")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A cancelled caller gets a cancellation, not a timeout.
	ctx, cancel = context.WithCancel(testContext(t))
	cancel()
	_, err = c.Query(ctx, "up", evalTime)
	require.ErrorContains(t, err, "query canceled: context canceled")
	require.ErrorIs(t, err, context.Canceled)
}

func TestNew(t *testing.T) {
	tests := []struct {
		opts Options
		err  string
	}{
		{Options{URL: "http://x"}, "datasource name must be set"},
		{Options{Name: "p", URL: "http://u:secret@x/%zz?token=abc"}, `datasource "p": invalid url: invalid URL escape "%zz"`},
		{Options{Name: "p", URL: "ftp://u:secret@x/?token=abc"}, `datasource "p": url ftp://u:xxxxx@x/?token=xxxxx must be an absolute http or https URL`},
		{Options{Name: "p", URL: "localhost:9090"}, `datasource "p": url localhost:9090 must be an absolute http or https URL`},
		{Options{Name: "p", URL: "http://x", Timeout: -1}, `datasource "p": timeout must not be negative`},
	}
	for _, tc := range tests {
		_, err := New(tc.opts)
		require.EqualError(t, err, tc.err)
	}
	c, err := New(Options{Name: "p", URL: "https://user:secret@host:9090/prefix/?token=abc&x=1#frag"})
	require.NoError(t, err)
	require.Equal(t, "https://user:xxxxx@host:9090/prefix/?token=xxxxx&x=xxxxx", c.String())
	require.Equal(t, "https://user:secret@host:9090/prefix/api/v1/query?token=abc&x=1", c.endpoint)
	require.Equal(t, defaultTimeout, c.timeout)
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"http://user:secret@host/?token=abc":       "http://user:xxxxx@host/?token=xxxxx",
		"http://host:9090":                         "http://host:9090",
		"http://user@host/p?a=1&b&c=":              "http://user@host/p?a=xxxxx&b=xxxxx&c=xxxxx",
		"https://h/p?token=a%20b#x":                "https://h/p?token=xxxxx",
		"http://u:p%40ss@[::1]:9090/x?y=z%26w&&v=": "http://u:xxxxx@[::1]:9090/x?y=xxxxx&&v=xxxxx",
	}
	for in, want := range tests {
		u, err := url.Parse(in)
		require.NoError(t, err)
		require.Equal(t, want, redactURL(u), in)
	}
}

func TestUnwrapURLError(t *testing.T) {
	inner := &url.Error{Op: "Post", URL: "http://u:p@x/?token=abc", Err: io.ErrUnexpectedEOF}
	err := unwrapURLError(&url.Error{Op: "Get", URL: "http://x", Err: inner})
	require.Equal(t, io.ErrUnexpectedEOF, err)
	require.True(t, isConnReset(fmt.Errorf("request failed: %w", err)))
	require.False(t, isConnReset(errors.New("dial tcp 127.0.0.1:1: connect: connection refused")))
}
