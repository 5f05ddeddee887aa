package web

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

// TestUTF8MatchersInFilters: the API's and the UI's filters take
// Alertmanager 0.35's UTF-8 matcher syntax (with the classic fallback),
// as the configuration does; in classic mode they do not, and UTF-8 label
// names are refused in alerts and silences.
func TestUTF8MatchersInFilters(t *testing.T) {
	filters := []string{`00=b`, `Σ=c`, `"00"="b"`, `foo="bar"`}
	for _, tc := range []struct {
		syntax config.MatcherSyntax
		code   int
	}{{config.SyntaxFallback, http.StatusOK}, {config.SyntaxUTF8, http.StatusOK}, {config.SyntaxClassic, http.StatusBadRequest}} {
		e := newUIEnv(t, Options{MatcherSyntax: tc.syntax})
		for _, f := range filters[:3] {
			for _, p := range []string{"/api/v2/alerts", "/api/v2/alerts/groups", "/api/v2/silences", "/", "/silences"} {
				code, body := send(t, "GET", e.base+p+"?filter="+url.QueryEscape(f), "", "", nil)
				require.Equal(t, tc.code, code, "syntax %d, %s?filter=%s: %s", tc.syntax, p, f, body)
			}
		}
		code, body := send(t, "POST", e.base+"/api/v2/alerts", "application/json", `[{"labels":{"alertname":"A","00":"b"}}]`, nil)
		require.Equal(t, tc.code, code, body)
		code, body = send(t, "POST", e.base+"/api/v2/silences", "application/json",
			`{"matchers":[{"name":"Σ","value":"c","isRegex":false}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":"b"}`, nil)
		require.Equal(t, tc.code, code, body)
	}
	// The filters select what they should.
	e := newUIEnv(t, Options{})
	require.NoError(t, e.routing.store.Put([]*dispatch.Alert{{Labels: model.LabelSet{"alertname": "A", "00": "b"}, StartsAt: time.Now()}}))
	code, body := send(t, "GET", e.base+"/api/v2/alerts?filter="+url.QueryEscape(`"00"="b"`), "", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"00":"b"`)
	code, body = send(t, "GET", e.base+"/api/v2/alerts?filter="+url.QueryEscape(`00="c"`), "", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "[]\n", body)
}
