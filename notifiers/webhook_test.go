package notifiers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func testTemplate(t *testing.T) *template.Template {
	t.Helper()
	tmpl, err := LoadTemplate(&config.Routing{}, "http://alerter.example")
	require.NoError(t, err)
	return tmpl
}

func batch() *dispatch.Batch {
	return &dispatch.Batch{
		GroupKey: `{}/{team="db"}:{alertname="DiskFull"}`, GroupLabels: model.LabelSet{"alertname": "DiskFull"},
		Receiver: "db-team", Now: t0, Reason: dispatch.ReasonFirst,
		Alerts: []*dispatch.Alert{
			{Labels: model.LabelSet{"alertname": "DiskFull", "instance": "a", "team": "db"}, Annotations: model.LabelSet{"summary": "a full"},
				StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(time.Hour), GeneratorURL: "http://prom/graph"},
			{Labels: model.LabelSet{"alertname": "DiskFull", "instance": "b", "team": "db"}, Annotations: model.LabelSet{"summary": "b full"},
				StartsAt: t0.Add(-2 * time.Hour), EndsAt: t0.Add(-time.Minute)},
		},
	}
}

// TestWebhookMessage: Alertmanager's webhook JSON, version 4, field by field.
func TestWebhookMessage(t *testing.T) {
	var got map[string]any
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	w := NewWebhook(WebhookOptions{URL: srv.URL, Client: srv.Client(), Template: testTemplate(t), UserAgent: "alerter/test"})
	retry, err := w.Notify(context.Background(), batch())
	require.NoError(t, err)
	require.False(t, retry)
	require.Equal(t, "application/json", header.Get("Content-Type"))
	require.Equal(t, "alerter/test", header.Get("User-Agent"))

	require.Equal(t, "4", got["version"])
	require.Equal(t, `{}/{team="db"}:{alertname="DiskFull"}`, got["groupKey"])
	require.Equal(t, 0.0, got["truncatedAlerts"])
	require.Equal(t, "firing", got["status"])
	require.Equal(t, "db-team", got["receiver"])
	require.Equal(t, "first notification", got["notification_reason"])
	require.Equal(t, map[string]any{"alertname": "DiskFull"}, got["groupLabels"])
	require.Equal(t, map[string]any{"alertname": "DiskFull", "team": "db"}, got["commonLabels"])
	require.Equal(t, map[string]any{}, got["commonAnnotations"])
	require.Equal(t, "http://alerter.example", got["externalURL"])
	alerts := got["alerts"].([]any)
	require.Len(t, alerts, 2)
	a := alerts[0].(map[string]any)
	require.Equal(t, "firing", a["status"])
	require.Equal(t, "0001-01-01T00:00:00Z", a["endsAt"], "a firing alert's end is hidden")
	require.Equal(t, "2026-05-01T11:00:00Z", a["startsAt"])
	require.Equal(t, "http://prom/graph", a["generatorURL"])
	require.Equal(t, model.LabelSet{"alertname": "DiskFull", "instance": "a", "team": "db"}.Fingerprint().String(), a["fingerprint"])
	b := alerts[1].(map[string]any)
	require.Equal(t, "resolved", b["status"])
	require.Equal(t, "2026-05-01T11:59:00Z", b["endsAt"])
}

func TestWebhookMaxAlerts(t *testing.T) {
	var got WebhookMessage
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	w := NewWebhook(WebhookOptions{URL: srv.URL, Client: srv.Client(), Template: testTemplate(t), MaxAlerts: 1})
	_, err := w.Notify(context.Background(), batch())
	require.NoError(t, err)
	require.Len(t, got.Alerts, 1)
	require.Equal(t, uint64(1), got.TruncatedAlerts)
}

// TestWebhookRetryByStatus: 5xx and 429 may be retried, other 4xx not;
// the error carries the status and the start of the body, never the URL.
func TestWebhookRetryByStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		retry  bool
	}{
		{200, false}, {202, false}, {204, false},
		{400, false}, {401, false}, {403, false}, {404, false}, {413, false},
		{429, true}, {500, true}, {502, true}, {503, true}, {504, true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			_, _ = io.WriteString(w, "the reason")
		}))
		secretURL := srv.URL + "/hook?token=s3cr3t"
		w := NewWebhook(WebhookOptions{URL: secretURL, Client: srv.Client(), Template: testTemplate(t)})
		retry, err := w.Notify(context.Background(), batch())
		srv.Close()
		require.Equal(t, tc.retry, retry, "status %d", tc.status)
		if tc.status/100 == 2 {
			require.NoError(t, err)
			continue
		}
		require.ErrorContains(t, err, "unexpected status code")
		require.ErrorContains(t, err, "the reason")
		require.NotContains(t, err.Error(), "s3cr3t")
	}
}

// TestWebhookTransportErrorHidesURL: a connection failure is retried and
// its error does not show the URL, which often holds a token.
func TestWebhookTransportErrorHidesURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u, _ := url.Parse(srv.URL)
	srv.Close() // nothing listens there any more
	w := NewWebhook(WebhookOptions{URL: "http://user:pw@" + u.Host + "/hook/s3cr3t", Client: http.DefaultClient, Template: testTemplate(t)})
	retry, err := w.Notify(context.Background(), batch())
	require.True(t, retry)
	require.Error(t, err)
	// The dialled address may show (as in Alertmanager); path and password not.
	for _, secret := range []string{"s3cr3t", "pw"} {
		require.NotContains(t, err.Error(), secret)
	}
}

// TestWebhookTimeout: a hanging endpoint is cut off by the integration's
// timeout and may be retried.
func TestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	w := NewWebhook(WebhookOptions{URL: srv.URL, Client: srv.Client(), Template: testTemplate(t), Timeout: 50 * time.Millisecond})
	retry, err := w.Notify(context.Background(), batch())
	require.True(t, retry)
	require.ErrorContains(t, err, "deadline exceeded")
}

// TestWebhookBoundsConnections: many groups flushing at once share a
// bounded number of requests in flight.
func TestWebhookBoundsConnections(t *testing.T) {
	var mu sync.Mutex
	inFlight, peak := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
	}))
	defer srv.Close()
	w := NewWebhook(WebhookOptions{URL: srv.URL, Client: srv.Client(), Template: testTemplate(t)})
	var wg sync.WaitGroup
	for range 4 * maxInFlight {
		wg.Go(func() {
			if _, err := w.Notify(context.Background(), batch()); err != nil {
				t.Error(err) // not require: this is not the test's goroutine
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, peak, maxInFlight)
	require.Positive(t, peak)
}

// TestBuild: a config's webhook, email and Slack entries become
// integrations with their kind, index and send_resolved.
func TestBuild(t *testing.T) {
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "alerter.yml"), []byte(`
global:
  smtp_smarthost: 'mail.example.org:587'
  smtp_from: 'alerter@example.org'
  slack_api_url: 'https://hooks.slack.com/services/T/B/X'
route:
  receiver: team
receivers:
  - name: team
    webhook_configs: [{url: 'http://127.0.0.1:1/a'}, {url: 'http://127.0.0.1:1/b', send_resolved: false}]
    email_configs: [{to: 'team@example.org', send_resolved: true}]
    slack_configs: [{channel: '#team'}, {channel: '#other'}]
  - name: nobody
`))
	require.NoError(t, err)
	ins, err := Build(cfg.Routing, Options{Template: testTemplate(t), SlackMessages: &SlackMemory{}})
	require.NoError(t, err)
	var got []string
	for _, in := range ins["team"] {
		got = append(got, fmt.Sprintf("%s/%d %v", in.Kind, in.Index, in.SendResolved))
	}
	require.Equal(t, []string{"webhook/0 true", "webhook/1 false", "email/0 true", "slack/0 false", "slack/1 false"}, got)
	require.Empty(t, ins["nobody"])
	require.Contains(t, ins, "nobody")
}
