package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amlabels "github.com/prometheus/alertmanager/pkg/labels"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
	"github.com/alerter/alerter/silences"
	"github.com/alerter/alerter/storage"
)

// backfillBase is where the backfilled history starts.
var backfillBase = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

// startBackfilledPrometheus writes 6 hours of x{instance="a"} at a 1-minute
// resolution, 1 during [1h, 1h20m) and [3h, 3h50m) and 0 otherwise, turns
// it into TSDB blocks with promtool and starts Prometheus on them. It
// returns Prometheus' address.
func startBackfilledPrometheus(t *testing.T) string {
	t.Helper()
	promtool := testutil.Program(t, "promtool", "prometheus")
	bin := testutil.Program(t, "prometheus", "prometheus")
	dir := t.TempDir()
	var om bytes.Buffer
	om.WriteString("# HELP x A gauge that is 1 during two windows.\n# TYPE x gauge\n")
	for i := 0; i <= 360; i++ {
		v := 0
		if (i >= 60 && i < 80) || (i >= 180 && i < 230) {
			v = 1
		}
		fmt.Fprintf(&om, "x{instance=\"a\"} %d %d\n", v, backfillBase.Add(time.Duration(i)*time.Minute).Unix())
	}
	om.WriteString("# EOF\n")
	omFile, tsdb := filepath.Join(dir, "history.om"), filepath.Join(dir, "tsdb")
	require.NoError(t, os.WriteFile(omFile, om.Bytes(), 0o600))
	out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", omFile, tsdb).CombinedOutput()
	require.NoError(t, err, "promtool:\n%s", out)
	cfg := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("global: {}\n"), 0o600))
	addr := testutil.FreeAddr(t)
	p := testutil.Start(t, bin, "--config.file="+cfg, "--storage.tsdb.path="+tsdb,
		"--storage.tsdb.retention.time=10y", "--web.listen-address="+addr, "--log.level=warn")
	testutil.WaitHTTP(t, p, "http://"+addr+"/-/ready", 60*time.Second)
	return addr
}

// writeBacktestConfig writes an alerter.yml querying Prometheus at addr,
// with the rule `x == 1` for 30m and a webhook route (group_wait 30s,
// group_interval 5m, send_resolved).
func writeBacktestConfig(t *testing.T, addr string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alerter.yml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `
datasources:
  - {name: prom, type: prometheus, url: "http://%s"}
rule_files: [rules.yml]
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: team
    webhook_configs: [{url: "http://127.0.0.1:1/hook", send_resolved: true}]
`, addr), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(`
groups:
  - name: g
    rules:
      - alert: XIsOne
        expr: x == 1
        for: 30m
        annotations: {summary: 'x is {{ $value }} on {{ $labels.instance }}'}
`), 0o600))
	return cfg
}

// backtestJSON is the part of the JSON report the tests look at.
type backtestJSON struct {
	Evaluations  int `json:"evaluations"`
	RangeQueries int `json:"range_queries"`
	Rules        []struct {
		Name   string `json:"name"`
		Error  string `json:"error"`
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			Firing []struct {
				Start time.Time  `json:"start"`
				End   *time.Time `json:"end"`
			} `json:"firing"`
		} `json:"alerts"`
	} `json:"rules"`
	Receivers []struct {
		Name          string `json:"name"`
		Notifications []struct {
			Time     time.Time `json:"time"`
			Firing   int       `json:"firing"`
			Resolved int       `json:"resolved"`
			Reason   string    `json:"reason"`
			GroupKey string    `json:"group_key"`
		} `json:"notifications"`
		Suppressed []struct {
			From    time.Time `json:"from"`
			Flushes int       `json:"flushes"`
			Reason  string    `json:"reason"`
		} `json:"suppressed"`
	} `json:"receivers"`
}

// requireHandCalculation checks a report against the history: the
// 20-minute window never lasts the 30m of `for`; the 50-minute one is
// active from 3h, fires at 3h30m and resolves at 3h50m, when x is 0 again.
// The group made at 3h30m flushes first at +30s; the resolution is in the
// flush of 3h50m30s (group_interval 5m).
func requireHandCalculation(t *testing.T, rep backtestJSON, notified bool) {
	t.Helper()
	require.Equal(t, 361, rep.Evaluations)
	require.Equal(t, 1, rep.RangeQueries)
	require.Len(t, rep.Rules, 1)
	r := rep.Rules[0]
	require.Empty(t, r.Error)
	require.Len(t, r.Alerts, 1)
	require.Equal(t, map[string]string{"alertname": "XIsOne", "instance": "a"}, r.Alerts[0].Labels)
	require.Len(t, r.Alerts[0].Firing, 1)
	f := r.Alerts[0].Firing[0]
	require.Equal(t, backfillBase.Add(3*time.Hour+30*time.Minute), f.Start.UTC())
	require.NotNil(t, f.End)
	require.Equal(t, backfillBase.Add(3*time.Hour+50*time.Minute), f.End.UTC())

	require.Len(t, rep.Receivers, 1)
	team := rep.Receivers[0]
	if !notified {
		require.Empty(t, team.Notifications)
		return
	}
	require.Len(t, team.Notifications, 2)
	first, resolved := team.Notifications[0], team.Notifications[1]
	require.Equal(t, backfillBase.Add(3*time.Hour+30*time.Minute+30*time.Second), first.Time.UTC())
	require.Equal(t, []any{1, 0, "first notification", `{}:{alertname="XIsOne"}`}, []any{first.Firing, first.Resolved, first.Reason, first.GroupKey})
	require.Equal(t, backfillBase.Add(3*time.Hour+50*time.Minute+30*time.Second), resolved.Time.UTC())
	require.Equal(t, []any{0, 1, "all alerts resolved"}, []any{resolved.Firing, resolved.Resolved, resolved.Reason})
}

// TestBacktestAgainstPrometheus backtests a rule over history backfilled
// into Debian's Prometheus with promtool, from the command line and through
// the running server's API (where an active silence mutes the alert).
func TestBacktestAgainstPrometheus(t *testing.T) {
	t.Parallel()
	addr := startBackfilledPrometheus(t)
	cfg := writeBacktestConfig(t, addr)
	from, to := backfillBase.Format(time.RFC3339), backfillBase.Add(6*time.Hour).Format(time.RFC3339)

	code, stdout, stderr := runCLI(t, "backtest", "--config.file="+cfg, "--from", from, "--to", to, "--step=1m", "--output=json")
	require.Equal(t, exitOK, code, stderr)
	var rep backtestJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	requireHandCalculation(t, rep, true)

	code, stdout, stderr = runCLI(t, "backtest", "--config.file="+cfg, "--from", from, "--to", to, "--step=1m")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, `
Rule XIsOne (`+filepath.Join(filepath.Dir(cfg), "rules.yml")+`, group "g", for 30m): 361 evaluations
  {alertname="XIsOne", instance="a"}
    firing  2024-03-04T03:30:00Z  2024-03-04T03:50:00Z  20m

Receiver team: 2 notifications
  TIME                  INTEGRATION  FIRING  RESOLVED  MUTED  REASON               GROUP
  2024-03-04T03:30:30Z  webhook/0    1       0         0      first notification   {}:{alertname="XIsOne"}
  2024-03-04T03:50:30Z  webhook/0    0       1         0      all alerts resolved  {}:{alertname="XIsOne"}
`)

	t.Run("storage", func(t *testing.T) {
		// A recorded silence over [3h30m, 3h40m) mutes the flushes of
		// 3h30m30s and 3h35m30s; the first notification goes at 3h40m30s.
		// Its matchers also match the current run, where it is expired.
		dir := t.TempDir()
		db, err := storage.Open(context.Background(), dir)
		require.NoError(t, err)
		ms, err := amlabels.ParseMatchers(`alertname="XIsOne"`)
		require.NoError(t, err)
		require.NoError(t, db.Silences().SaveSilences(context.Background(), []silences.Silence{{
			ID: "old", Matchers: ms, StartsAt: backfillBase.Add(3*time.Hour + 30*time.Minute),
			EndsAt: backfillBase.Add(3*time.Hour + 40*time.Minute), UpdatedAt: backfillBase, CreatedBy: "test",
		}}, nil))
		require.NoError(t, db.Close())

		code, stdout, stderr := runCLI(t, "backtest", "--config.file="+cfg, "--from", from, "--to", to, "--output=json",
			"--storage.path="+dir, "--silences=recorded")
		require.Equal(t, exitOK, code, stderr)
		var rep backtestJSON
		require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
		team := rep.Receivers[0]
		require.Len(t, team.Notifications, 2)
		require.Equal(t, backfillBase.Add(3*time.Hour+40*time.Minute+30*time.Second), team.Notifications[0].Time.UTC())
		require.Equal(t, "first notification", team.Notifications[0].Reason)
		require.Len(t, team.Suppressed, 1)
		require.Equal(t, 2, team.Suppressed[0].Flushes)

		// current: the silence is not active now, so nothing is muted.
		code, stdout, stderr = runCLI(t, "backtest", "--config.file="+cfg, "--from", from, "--to", to, "--output=json", "--storage.path="+dir)
		require.Equal(t, exitOK, code, stderr)
		rep = backtestJSON{}
		require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
		requireHandCalculation(t, rep, true)

		code, _, stderr = runCLI(t, "backtest", "--config.file="+cfg, "--from", from, "--storage.path="+filepath.Join(dir, "typo"))
		require.Equal(t, exitProblems, code)
		require.Contains(t, stderr, "no alerter storage there")
		_, err = os.Stat(filepath.Join(dir, "typo"))
		require.True(t, os.IsNotExist(err), "no storage is made")
	})

	t.Run("api", func(t *testing.T) {
		base := startServer(t, cfg)
		post := func(path, body string) (int, []byte) {
			resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return resp.StatusCode, b
		}
		code, body := post("/api/v1/backtest", fmt.Sprintf(`{"from": %q, "to": %q, "step": 60}`, from, to))
		require.Equal(t, http.StatusOK, code, string(body))
		var env struct {
			Status string       `json:"status"`
			Data   backtestJSON `json:"data"`
		}
		require.NoError(t, json.Unmarshal(body, &env))
		requireHandCalculation(t, env.Data, true)

		// A silence active now mutes the alert over the whole range.
		code, body = post("/api/v2/silences", fmt.Sprintf(`{"matchers": [{"name": "alertname", "value": "XIsOne", "isRegex": false}],
			"startsAt": %q, "endsAt": %q, "createdBy": "test", "comment": "backtest"}`,
			time.Now().Add(-time.Minute).Format(time.RFC3339), time.Now().Add(time.Hour).Format(time.RFC3339)))
		require.Equal(t, http.StatusOK, code, string(body))
		code, body = post("/api/v1/backtest", fmt.Sprintf(`{"from": %q, "to": %q, "step": "1m", "rule": "XIsOne"}`, from, to))
		require.Equal(t, http.StatusOK, code, string(body))
		env.Data = backtestJSON{}
		require.NoError(t, json.Unmarshal(body, &env))
		requireHandCalculation(t, env.Data, false)
		sup := env.Data.Receivers[0].Suppressed
		require.Len(t, sup, 1)
		require.Equal(t, "silenced", sup[0].Reason)
		require.Equal(t, backfillBase.Add(3*time.Hour+30*time.Minute+30*time.Second), sup[0].From.UTC())
		require.Equal(t, 4, sup[0].Flushes, "3h30m30s, 3h35m30s, 3h40m30s, 3h45m30s")

		for _, bad := range []string{`{}`, `{"from": "yesterday"}`, `{"from": "-1h", "step": "soon"}`, `{"from": "-1h", "rule": "Nope"}`, `{"from": "-1h", "extra": 1}`, `{"from": "now", "to": "-1h"}`} {
			code, body = post("/api/v1/backtest", bad)
			require.Equal(t, http.StatusBadRequest, code, "%s: %s", bad, body)
		}
	})
}

// startServer runs `alerter run` in-process on cfg until the test ends and
// returns its base URL.
func startServer(t *testing.T, cfg string) string {
	t.Helper()
	addr := testutil.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var stderr bytes.Buffer
	go func() {
		defer close(done)
		run(ctx, []string{"run", "--config.file=" + cfg, "--storage.path=" + t.TempDir(), "--web.listen-address=" + addr}, io.Discard, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	base := "http://" + addr
	testutil.Eventually(t, 20*time.Second, 20*time.Millisecond, func() bool {
		code, _, err := testutil.Get(base + "/-/ready")
		return err == nil && code == http.StatusOK
	}, "alerter did not get ready")
	return base
}

func TestBacktestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"backtest"}, {"backtest", "--from=-1h", "--output=yaml"}, {"backtest", "--from=-1h", "extra"},
		{"backtest", "--from=yesterday"}, {"backtest", "--from=-1h", "--step=soon"}, {"backtest", "--from=-1h", "--silences=all"},
	} {
		code, _, _ := runCLI(t, args...)
		require.Equal(t, exitUsage, code, "%v", args)
	}
	code, _, stderr := runCLI(t, "backtest", "--from=-1h", "--config.file=/nonexistent/alerter.yml")
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, "no such file")
}
