package promapi

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
)

var (
	rangeStart = time.UnixMilli(1700000000000)
	rangeEnd   = rangeStart.Add(2 * time.Minute)
)

func TestQueryRangeResults(t *testing.T) {
	tests := []struct {
		name string
		body string
		want promql.Matrix
		err  string
	}{
		{
			name: "matrix",
			body: `{"status":"success","data":{"resultType":"matrix","result":[
				{"metric":{"__name__":"up","job":"api"},"values":[[1700000000,"1"],[1700000060,"0"],[1700000120.5,"NaN"]]},
				{"metric":{},"values":[[1700000060,"+Inf"]]}]},"warnings":["partial"]}`,
			want: promql.Matrix{
				{Metric: labels.FromStrings("__name__", "up", "job", "api"), Floats: []promql.FPoint{
					{T: 1700000000000, F: 1}, {T: 1700000060000, F: 0}, {T: 1700000120500, F: math.NaN()},
				}},
				{Metric: labels.EmptyLabels(), Floats: []promql.FPoint{{T: 1700000060000, F: math.Inf(1)}}},
			},
		},
		{
			name: "histograms merged in time order",
			body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"h"},` +
				`"histograms":[[1700000060,{"count":"2","sum":"3","buckets":[[3,"-0.5","0.5","2"]]}]],` +
				`"values":[[1700000000,"1"],[1700000120,"2"]]}]}}`,
			want: promql.Matrix{{Metric: labels.FromStrings("__name__", "h"), Floats: []promql.FPoint{
				{T: 1700000000000, F: 1}, {T: 1700000060000}, {T: 1700000120000, F: 2},
			}}},
		},
		{
			name: "result before resultType",
			body: `{"status":"success","data":{"result":[{"metric":{"a":"b"},"values":[[1700000000,"1"]]}],"resultType":"matrix"}}`,
			want: promql.Matrix{{Metric: labels.FromStrings("a", "b"), Floats: []promql.FPoint{{T: 1700000000000, F: 1}}}},
		},
		{
			name: "empty",
			body: `{"status":"success","data":{"resultType":"matrix","result":[]}}`,
			want: promql.Matrix{},
		},
		{
			name: "vector",
			body: vectorBody,
			err:  `datasource "prom" (http://127.0.0.1:PORT): range query result is not a matrix (got vector)`,
		},
		{
			name: "no metric",
			body: `{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,"1"]]}]}}`,
			err:  `invalid response (HTTP 200): series 0: no metric`,
		},
		{
			name: "bad point",
			body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}`,
			err:  `series 0: point 0: invalid sample value "x"`,
		},
		{
			name: "no result",
			body: `{"status":"success","data":{"resultType":"matrix"}}`,
			err:  `invalid response: no data.result`,
		},
		{
			name: "API error",
			body: `{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries"}`,
			err:  `query failed with HTTP 200 OK: bad_data: exceeded maximum resolution of 11,000 points per timeseries`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, http.StatusOK, tc.body)
			c := newClient(t, Options{URL: srv.URL})
			got, err := c.QueryRange(testContext(t), "up", rangeStart, rangeEnd, time.Minute)
			if tc.err != "" {
				port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
				require.ErrorContains(t, err, strings.ReplaceAll(tc.err, "PORT", port))
				return
			}
			require.NoError(t, err)
			require.Len(t, got, len(tc.want))
			for i := range tc.want {
				require.Equal(t, tc.want[i].Metric, got[i].Metric)
				require.Len(t, got[i].Floats, len(tc.want[i].Floats))
				for j, p := range tc.want[i].Floats {
					require.Equal(t, p.T, got[i].Floats[j].T)
					require.Equal(t, math.Float64bits(p.F), math.Float64bits(got[i].Floats[j].F), "point %d", j)
				}
			}
		})
	}
}

func TestQueryRangeRequest(t *testing.T) {
	type seen struct{ method, path, tenant, query, start, end, step string }
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
			method: r.Method, path: r.URL.Path, tenant: r.URL.Query().Get("tenant"),
			query: r.PostForm.Get("query"), start: r.PostForm.Get("start"), end: r.PostForm.Get("end"), step: r.PostForm.Get("step"),
		}
		mu.Unlock()
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		url  string
		step time.Duration
		want seen
	}{
		{srv.URL, time.Minute, seen{path: "/api/v1/query_range", step: "60"}},
		{srv.URL + "/prefix/prom/?tenant=a%26b", 1500 * time.Millisecond, seen{path: "/prefix/prom/api/v1/query_range", tenant: "a&b", step: "1.5"}},
	} {
		c := newClient(t, Options{URL: tc.url})
		_, err := c.QueryRange(testContext(t), `x{a="b c"} == 1`, rangeStart, rangeEnd.Add(123*time.Millisecond), tc.step)
		require.NoError(t, err)
		tc.want.method, tc.want.query = http.MethodPost, `x{a="b c"} == 1`
		tc.want.start, tc.want.end = "1700000000.000", "1700000120.123"
		mu.Lock()
		require.Equal(t, tc.want, got)
		mu.Unlock()
	}

	c := newClient(t, Options{URL: srv.URL})
	_, err := c.QueryRange(testContext(t), "up", rangeStart, rangeEnd, 0)
	require.ErrorContains(t, err, "step must be positive")
	_, err = c.QueryRange(testContext(t), "up", rangeEnd, rangeStart, time.Minute)
	require.ErrorContains(t, err, "end is before its start")
}

func TestQueryRangeTimeoutAndRetry(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	c := newClient(t, Options{URL: slow.URL, Timeout: 50 * time.Millisecond})
	_, err := c.QueryRange(testContext(t), "up", rangeStart, rangeEnd, time.Minute)
	require.EqualError(t, err, `datasource "prom" (`+slow.URL+`): query timed out after 50ms: context deadline exceeded`)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A dead kept-alive connection is retried once, as for instant queries.
	flaky, requests := flakyServer(t, func(n int32) bool { return n == 2 })
	c = newClient(t, Options{URL: flaky.URL})
	_, err = c.Query(testContext(t), "up", evalTime) // opens the connection the server then drops
	require.NoError(t, err)
	_, err = c.QueryRange(testContext(t), "up", rangeStart, rangeEnd, time.Minute)
	require.ErrorContains(t, err, "range query result is not a matrix (got vector)", "answered after the retry")
	require.EqualValues(t, 3, requests.Load())
}

func TestQueryRangeNoSecretsInErrors(t *testing.T) {
	handlers := map[string]http.HandlerFunc{
		"400 bad_data": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":%s}`, jsonString(echo(r)))
		},
		"200 bad point": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,%s]]}]}}`,
				jsonString(r.RequestURI))
		},
		"200 other result type": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":%s,"result":[]}}`, jsonString(echo(r)))
		},
	}
	cfg := commoncfg.HTTPClientConfig{
		Authorization: &commoncfg.Authorization{Type: "Bearer", Credentials: bearerToken},
		HTTPHeaders:   &commoncfg.Headers{Headers: map[string]commoncfg.Header{"X-Key": {Secrets: []commoncfg.Secret{headerSecret}}}},
	}
	for name, h := range handlers {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			u := strings.Replace(srv.URL, "://", "://"+urlUser+":"+urlPassword+"@", 1) + "/prefix?token=" + queryToken
			c := newClient(t, Options{URL: u, HTTPConfig: cfg})
			_, err := c.QueryRange(testContext(t), "up", rangeStart, rangeEnd, time.Minute)
			requireNoSecrets(t, err)
			require.ErrorContains(t, err, `/prefix?token=xxxxx): `)
		})
	}
}
