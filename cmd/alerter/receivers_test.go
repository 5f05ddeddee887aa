package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/internal/testutil"
	"github.com/alerter/alerter/storage"
	alerterweb "github.com/alerter/alerter/web"
)

// webhookSink is an httptest webhook receiver that keeps what it got.
type webhookSink struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (s *webhookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

func (s *webhookSink) received() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.msgs...)
}

// receiversConfig writes a config whose receivers post to ok (which
// answers 200) and failing (500), and returns its path.
func receiversConfig(t *testing.T, ok, failing string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "alerter.yml")
	require.NoError(t, os.WriteFile(path, []byte(`route:
  receiver: good
  group_wait: 0s
receivers:
  - name: team
    webhook_configs:
      - url: `+ok+`
      - url: `+failing+`
        send_resolved: false
  - name: good
    webhook_configs: [{url: `+ok+`}]
  - name: blackhole
  - name: pd
    pagerduty_configs: [{routing_key: x, url: '`+ok+`/v2/enqueue'}]
`), 0o600))
	return path
}

func testServers(t *testing.T) (*webhookSink, string, string) {
	sink := &webhookSink{}
	ok := httptest.NewServer(sink)
	t.Cleanup(ok.Close)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	return sink, ok.URL, failing.URL
}

func TestReceiversTestCLI(t *testing.T) {
	sink, ok, failing := testServers(t)
	cfg := receiversConfig(t, ok, failing)

	code, stdout, stderr := runCLI(t, "receivers", "test", "--config.file="+cfg, "good")
	require.Equal(t, exitOK, code, stderr)
	require.Regexp(t, `^webhook/0  ok  [0-9.]+(ms|µs|s)\n$`, stdout)
	msgs := sink.received()
	require.Len(t, msgs, 1)
	require.Equal(t, "good", msgs[0]["receiver"])
	require.Equal(t, `{}/test:{alertname="TestAlert"}`, msgs[0]["groupKey"])
	require.Equal(t, map[string]any{"alertname": "TestAlert"}, msgs[0]["groupLabels"])
	require.Equal(t, "http://"+instanceName(":9095"), msgs[0]["externalURL"])

	// Flags may follow the name; one failure makes the exit code 1.
	code, stdout, _ = runCLI(t, "receivers", "test", "team", "--config.file="+cfg, "--web.external-url=https://alerter.example/")
	require.Equal(t, exitProblems, code)
	require.Regexp(t, `^webhook/0  ok      [0-9.]+(ms|µs|s)\n`+
		`webhook/1  FAILED  unexpected status code 500: boom\n$`, stdout)
	require.Len(t, sink.received(), 2)
	require.Equal(t, "https://alerter.example", sink.received()[1]["externalURL"])

	code, stdout, _ = runCLI(t, "receivers", "test", "--config.file="+cfg, "blackhole")
	require.Equal(t, exitOK, code)
	require.Equal(t, "receiver \"blackhole\" has no integrations: nothing to test\n", stdout)

	// Kinds other than email, Slack and webhook go through Alertmanager's
	// notifiers: PagerDuty's Events API v2 here.
	code, stdout, _ = runCLI(t, "receivers", "test", "--config.file="+cfg, "pd")
	require.Equal(t, exitOK, code, stdout)
	require.Regexp(t, `^pagerduty/0  ok  [0-9.]+(ms|µs|s)\n$`, stdout)
	msgs = sink.received()
	require.Len(t, msgs, 3)
	require.Equal(t, "x", msgs[2]["routing_key"])
	require.Equal(t, "trigger", msgs[2]["event_action"])
	require.NotEmpty(t, msgs[2]["dedup_key"])

	code, _, stderr = runCLI(t, "receivers", "test", "--config.file="+cfg, "nobody")
	require.Equal(t, exitUsage, code)
	require.Equal(t, "alerter receivers test: unknown receiver \"nobody\"; the receivers are: blackhole, good, pd, team\n", stderr)

	code, _, stderr = runCLI(t, "receivers", "test", "--config.file="+filepath.Join(t.TempDir(), "missing.yml"), "good")
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, "missing.yml")

	noRoute := filepath.Join(t.TempDir(), "alerter.yml")
	require.NoError(t, os.WriteFile(noRoute, []byte("global: {}\n"), 0o600))
	code, _, stderr = runCLI(t, "receivers", "test", "--config.file="+noRoute, "good")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "the configuration has no receivers")

	for _, args := range [][]string{
		{"receivers"}, {"receivers", "list"}, {"receivers", "test", "good"},
		{"receivers", "test", "--config.file=" + cfg}, {"receivers", "test", "--config.file=" + cfg, "a", "b"},
		{"receivers", "test", "--nope", "good"},
	} {
		code, _, _ := runCLI(t, args...)
		require.Equal(t, exitUsage, code, "%v", args)
	}
	require.Len(t, sink.received(), 3, "usage errors send nothing")
}

// The server's wiring: deliveries land in the notification history that
// /api/v1/notifications reads, and receiver tests use the running
// configuration's integrations.
func TestRoutingHistoryAndReceiverTest(t *testing.T) {
	sink, ok, failing := testServers(t)
	cfg, err := config.Load(receiversConfig(t, ok, failing))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := storage.Open(ctx, t.TempDir())
	require.NoError(t, err)
	defer db.Close()
	rt, err := newRouting(ctx, routingOptions{
		db: db, data: dataLifetime{retention: time.Hour}, reg: prometheus.NewRegistry(), logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	rc, err := rt.prepare(cfg, "http://alerter.example")
	require.NoError(t, err)
	rt.commit(cfg, rc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rt.run(ctx)
	}()

	require.NoError(t, rt.store.Put([]*dispatch.Alert{{Labels: model.LabelSet{"alertname": "Down", "instance": "a"}, StartsAt: time.Now()}}))
	history := historyView{rt.history}
	var got []alerterweb.Notification
	testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, func() bool {
		got, err = history.List(ctx, alerterweb.NotificationFilter{Receiver: "good", Limit: 10})
		return err == nil && len(got) == 1
	}, "the delivery is recorded")
	a := got[0].Attempt
	require.Equal(t, "webhook/0", a.Integration)
	require.Equal(t, "firing", a.Status)
	require.Empty(t, a.Err)
	require.Equal(t, []model.LabelSet{{"alertname": "Down", "instance": "a"}}, a.Alerts)
	require.Equal(t, 1, got[0].AlertsTotal)

	res, err := rt.testReceiver(ctx, "team")
	require.NoError(t, err)
	require.Len(t, res, 2)
	require.Equal(t, alerterweb.ReceiverTestResult{Integration: "webhook/0", Success: true, Duration: res[0].Duration}, res[0])
	require.Equal(t, "webhook/1", res[1].Integration)
	require.False(t, res[1].Success)
	require.Equal(t, "unexpected status code 500: boom", res[1].Error)
	require.Equal(t, "team", sink.received()[1]["receiver"])

	_, err = rt.testReceiver(ctx, "nobody")
	require.ErrorIs(t, err, alerterweb.ErrNotFound)
	require.EqualError(t, err, `receiver "nobody" not found`)

	cancel()
	<-done
	rt.stop()
}
