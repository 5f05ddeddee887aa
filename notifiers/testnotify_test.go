package notifiers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/dispatch"
)

// webhookIntegration returns a webhook integration posting to url.
func webhookIntegration(t *testing.T, index int, url string) dispatch.Integration {
	return dispatch.Integration{Kind: "webhook", Index: index, Notifier: NewWebhook(WebhookOptions{
		URL: url, Client: http.DefaultClient, Template: testTemplate(t), UserAgent: "alerter/test",
	})}
}

// A receiver test posts one realistic firing alert to every integration at
// once and reports each outcome: success, the receiver's error, a timeout.
func TestTestReceiverWebhooks(t *testing.T) {
	got := make(chan map[string]any, 1)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got <- m
	}))
	defer ok.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer failing.Close()
	hanging := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		// Only once the body is read does the server notice that the
		// client went away, and end the request's context.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer hanging.Close()

	// The caller's shorter deadline bounds each integration too.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := TestReceiver(ctx, "team-a", []dispatch.Integration{
		webhookIntegration(t, 0, ok.URL), webhookIntegration(t, 1, failing.URL), webhookIntegration(t, 2, hanging.URL),
	}, t0)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Len(t, res, 3)

	require.Equal(t, "webhook/0", res[0].Integration)
	require.True(t, res[0].Success)
	require.NoError(t, res[0].Err)

	require.Equal(t, "webhook/1", res[1].Integration)
	require.False(t, res[1].Success)
	require.EqualError(t, res[1].Err, "unexpected status code 500: boom")
	require.Equal(t, dispatch.ReasonServerError, dispatch.FailureReason(res[1].Err))

	require.Equal(t, "webhook/2", res[2].Integration)
	require.False(t, res[2].Success)
	require.ErrorIs(t, res[2].Err, context.DeadlineExceeded)
	require.ErrorContains(t, res[2].Err, "no answer within ")
	require.Greater(t, res[2].Duration, 300*time.Millisecond)

	m := <-got
	require.Equal(t, TestGroupKey, m["groupKey"])
	require.Equal(t, "team-a", m["receiver"])
	require.Equal(t, "firing", m["status"])
	require.Equal(t, "first notification", m["notification_reason"])
	require.Equal(t, map[string]any{"alertname": "TestAlert"}, m["groupLabels"])
	alerts := m["alerts"].([]any)
	require.Len(t, alerts, 1)
	a := alerts[0].(map[string]any)
	require.Equal(t, map[string]any{"alertname": "TestAlert", "instance": "alerter.test", "severity": "none"}, a["labels"])
	ann := a["annotations"].(map[string]any)
	require.Equal(t, "Test notification from alerter", ann["summary"])
	require.Contains(t, ann["description"], `alerter sent to the receiver "team-a"`)
	require.Equal(t, "2026-05-01T12:00:00Z", a["startsAt"])
}

// blockingNotifier waits for its context to end, or (ignoreCtx) for
// release.
type blockingNotifier struct {
	ignoreCtx bool
	release   chan struct{}
}

func (n blockingNotifier) Notify(ctx context.Context, _ *dispatch.Batch) (bool, error) {
	if n.ignoreCtx {
		<-n.release
		return false, nil
	}
	<-ctx.Done()
	return true, ctx.Err()
}

// Each integration has 10 seconds by default; one that ignores its
// context is not waited for.
func TestTestReceiverDefaultTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		start := time.Now()
		res := TestReceiver(context.Background(), "r", []dispatch.Integration{
			{Kind: "webhook", Index: 0, Notifier: blockingNotifier{}},
			{Kind: "email", Index: 3, Notifier: blockingNotifier{ignoreCtx: true, release: release}},
		}, start)
		require.Equal(t, DefaultTestTimeout+testGrace, time.Since(start))
		require.Equal(t, "webhook/0", res[0].Integration)
		require.Equal(t, DefaultTestTimeout, res[0].Duration)
		require.EqualError(t, res[0].Err, "no answer within 10s: context deadline exceeded")
		require.Equal(t, "email/3", res[1].Integration)
		require.ErrorIs(t, res[1].Err, context.DeadlineExceeded)
		require.False(t, res[0].Success || res[1].Success)
		close(release)
	})
}

func TestTestReceiverNoIntegrations(t *testing.T) {
	require.Empty(t, TestReceiver(context.Background(), "blackhole", nil, t0))
}
