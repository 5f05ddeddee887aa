package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/dispatch"
)

// GET /api/v1/alerts/timeline: by matchers or fingerprint, the alert now
// (while active) and its events with a sentence each, routing shown
// before a group's first event; bad parameters are 400 saying which.
func TestTimelineAPI(t *testing.T) {
	ev := &fakeEvents{}
	e := newUIEnv(t, Options{Events: ev})
	ls := model.LabelSet{"alertname": "Down", "svc": "a", "severity": "critical"}
	e.put(t, ls)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ev.tls = []AlertTimeline{{Fingerprint: ls.Fingerprint(), Labels: ls, Events: []dispatch.Event{
		{At: at, Kind: dispatch.EventFiring, Rule: "g/Down", Value: "1"},
		{At: at.Add(time.Minute), Kind: dispatch.EventMuted, Receiver: "db", GroupKey: "k", Intervals: []string{"weekends"}},
		{At: at.Add(2 * time.Minute), Kind: dispatch.EventDeduplicated, Receiver: "db", Integration: "webhook/0", GroupKey: "k", SentAt: at},
	}}}
	code, body := get(t, e.base+"/api/v1/alerts/timeline?match[]="+url.QueryEscape(`{alertname="Down"}`))
	require.Equal(t, http.StatusOK, code, body)
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []struct {
				Fingerprint string          `json:"fingerprint"`
				Now         json.RawMessage `json:"now"`
				Events      []struct {
					Kind, Text string
				} `json:"events"`
			} `json:"alerts"`
			More bool `json:"more"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &resp))
	require.Len(t, resp.Data.Alerts, 1)
	a := resp.Data.Alerts[0]
	require.Equal(t, ls.Fingerprint().String(), a.Fingerprint)
	require.Contains(t, string(a.Now), `"receivers"`, "the alert as it is now")
	var kinds, texts []string
	for _, e := range a.Events {
		kinds, texts = append(kinds, e.Kind), append(texts, e.Text)
	}
	require.Equal(t, []string{"firing", "routed", "muted", "deduplicated"}, kinds)
	require.Equal(t, "not sent to db: muted by time interval weekends", texts[2])
	require.Equal(t, "not sent to db (webhook/0): already notified at 2026-12-01 10:00:00 UTC (repeat_interval not passed)", texts[3])

	code, body = get(t, e.base+"/api/v1/alerts/timeline?fingerprint="+ls.Fingerprint().String()+"&since=1h")
	require.Equal(t, http.StatusOK, code, body)
	for q, want := range map[string]string{
		"":                                  "select alerts with match[]",
		"fingerprint=nope":                  "invalid fingerprint",
		"match[]=" + url.QueryEscape("{a"):  "invalid match[]",
		"match[]=%7B%7D":                    "no matcher",
		"match[]=a%3D%22b%22&since=someday": "invalid since",
		strings.Repeat("fingerprint=0123456789abcdef&", 21): "at most 20",
	} {
		code, body := get(t, e.base+"/api/v1/alerts/timeline?"+q)
		require.Equal(t, http.StatusBadRequest, code, q)
		require.Contains(t, body, want, q)
	}
}
