package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/evaluator"
)

// TestRemoteQueueReplacedOnlyWhenApplied: a reload that changes a
// datasource's remote_write builds a new queue but keeps the running one
// until the configuration is applied (retire); a refused configuration
// (abandon) leaves the running queue as it was; an applied one closes the
// old queue, and one without remote_write closes it too.
func TestRemoteQueueReplacedOnlyWhenApplied(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	s := newSources(context.Background(), sourcesOptions{logger: slog.New(slog.DiscardHandler), registerer: prometheus.NewRegistry()})
	defer s.close()
	parse := func(path string) *config.Config {
		rw := ""
		if path != "" {
			rw = fmt.Sprintf(", remote_write: {url: '%s%s'}", srv.URL, path)
		}
		cfg, err := config.Parse("alerter.yml", []byte("datasources: [{name: prom, type: prometheus, url: 'http://127.0.0.1:9'"+rw+"}]\n"))
		require.NoError(t, err)
		return cfg
	}
	open := func(ds evaluator.Datasource) bool {
		sample := promql.Sample{Metric: labels.FromStrings("__name__", "x"), T: 1, F: 1}
		return ds.Appender.Append(context.Background(), []promql.Sample{sample}) == nil
	}

	v1 := parse("/one")
	ds1, err := s.build(v1)
	require.NoError(t, err)
	s.retire(v1)
	require.True(t, open(ds1["prom"]))

	v2 := parse("/two")
	ds2, err := s.build(v2)
	require.NoError(t, err)
	require.NotSame(t, ds1["prom"].Appender, ds2["prom"].Appender, "new settings, a new queue")
	require.NotEqual(t, ds1["prom"].Version, ds2["prom"].Version, "the groups restart on it")
	s.abandon()
	require.True(t, open(ds1["prom"]), "a refused configuration leaves the running queue")
	require.False(t, open(ds2["prom"]), "and closes the one built for it")

	ds2, err = s.build(v2)
	require.NoError(t, err)
	same, err := s.build(v2)
	require.NoError(t, err)
	require.Same(t, ds2["prom"].Appender, same["prom"].Appender, "built twice before applying: one queue")
	s.retire(v2)
	require.True(t, open(ds2["prom"]))
	s.flushing.Wait()
	require.False(t, open(ds1["prom"]), "the replaced queue is closed once the new one runs")

	none := parse("")
	ds3, err := s.build(none)
	require.NoError(t, err)
	require.Nil(t, ds3["prom"].Appender)
	s.retire(none)
	s.flushing.Wait()
	require.False(t, open(ds2["prom"]), "a queue the configuration dropped is closed")
}
