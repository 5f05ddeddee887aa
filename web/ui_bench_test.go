package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/silences"
)

// benchAlertsHandler serves 10,000 active alerts in 2,000 aggregation
// groups: 500 silenced (100 silences of a group each), 800 inhibited (the
// critical alert of every tenth group inhibits its 4 warnings).
func benchAlertsHandler(b *testing.B) http.Handler {
	sils, err := silences.New(context.Background(), silences.Options{})
	require.NoError(b, err)
	d, err := dispatch.NewDispatcher(uiRoutingOpts(b, sils))
	require.NoError(b, err)
	b.Cleanup(d.Stop)
	rt := &testRouting{store: dispatch.NewStore(time.Hour, nil), disp: d}
	rt.store.SetDispatcher(d)
	var alerts []*dispatch.Alert
	for g := range 2000 {
		for i := range 5 {
			sev := "warning"
			if g%10 == 0 && i == 0 {
				sev = "critical" // inhibits the warnings of its svc
			}
			alerts = append(alerts, &dispatch.Alert{
				Labels: model.LabelSet{
					"alertname": model.LabelValue(fmt.Sprintf("Alert%04d", g)), "instance": model.LabelValue(fmt.Sprintf("host-%d:9100", i)),
					"job": "node", "severity": model.LabelValue(sev), "svc": model.LabelValue(fmt.Sprintf("svc-%d", g)),
				},
				Annotations: model.LabelSet{
					"summary":     model.LabelValue(fmt.Sprintf("host-%d is unhappy", i)),
					"description": "Something has been wrong for a while; see the runbook.",
					"runbook_url": "https://runbooks.example/alert",
				},
				StartsAt: time.Now().Add(-time.Duration(g) * time.Minute),
			})
		}
	}
	require.NoError(b, rt.store.Put(alerts))
	for g := range 100 {
		ms, err := parseMatcherExpr(config.SyntaxFallback, fmt.Sprintf(`{alertname="Alert%04d"}`, 1000+g))
		require.NoError(b, err)
		_, err = sils.Set(context.Background(), silences.Silence{Matchers: ms, EndsAt: time.Now().Add(time.Hour), CreatedBy: "bench", Comment: "bench"})
		require.NoError(b, err)
	}
	return New(Options{Rules: fakeRules{}, Gatherer: prometheus.NewRegistry(), Routing: rt, Silences: sils})
}

// BenchmarkAlertsPage renders the alerts page over benchAlertsHandler's
// alerts: the server-side time of one page and its size.
func BenchmarkAlertsPage(b *testing.B) {
	h := benchAlertsHandler(b)
	req := httptest.NewRequest(http.MethodGet, "/?silenced=1&inhibited=1", nil)

	var size int
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "page-bytes")
}

// BenchmarkAlertsLive is the page script's poll of the same view: a
// changed part (200, its bytes, gzipped as browsers ask) and an unchanged
// one (304, no body).
func BenchmarkAlertsLive(b *testing.B) {
	h := benchAlertsHandler(b)
	get := func(etag string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/?silenced=1&inhibited=1&live=1", nil)
		req.Header.Set("Accept-Encoding", "gzip, deflate, br")
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	first := get("")
	require.Equal(b, http.StatusOK, first.Code)
	b.Run("changed", func(b *testing.B) {
		var size int
		for b.Loop() {
			rec := get("")
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
			size = rec.Body.Len()
		}
		b.ReportMetric(float64(size), "update-bytes")
	})
	b.Run("unchanged", func(b *testing.B) {
		var size int
		for b.Loop() {
			rec := get(first.Header().Get("ETag"))
			if rec.Code != http.StatusNotModified {
				b.Fatalf("status %d", rec.Code)
			}
			size = rec.Body.Len()
		}
		b.ReportMetric(float64(size), "update-bytes")
	})
}
