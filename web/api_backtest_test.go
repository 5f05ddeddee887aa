package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/backtest"
)

func TestBacktestAPI(t *testing.T) {
	var got BacktestRequest
	fail := error(nil)
	srv := newTestServer(t, Options{Backtest: func(_ context.Context, req BacktestRequest) (*backtest.Report, error) {
		got = req
		if fail != nil {
			return nil, fail
		}
		return &backtest.Report{From: req.From, To: req.To, Step: req.Step, Rules: []backtest.RuleReport{}, Receivers: []backtest.ReceiverReport{}}, nil
	}})
	post := func(body string) (int, string) {
		resp, err := http.Post(srv.URL+"/api/v1/backtest", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	code, body := post(`{"from": "2024-01-01T00:00:00Z", "to": "2024-01-02T00:00:00Z", "step": "5m", "rule": "A"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"status":"success","data":{"from":"2024-01-01T00:00:00Z","to":"2024-01-02T00:00:00Z","step":"5m",
		"evaluations":0,"range_queries":0,"instant_queries":0,"rules":[],"receivers":[]}}`, body)
	require.Equal(t, BacktestRequest{
		From: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), Step: 5 * time.Minute, Rule: "A",
	}, got)

	// to defaults to now, step to each group's own; step may be seconds.
	code, body = post(`{"from": "-1h", "step": null}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Zero(t, got.Step)
	require.WithinDuration(t, time.Now(), got.To, time.Minute)
	require.Equal(t, time.Hour, got.To.Sub(got.From))
	code, _ = post(`{"from": "-1h", "step": 90}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 90*time.Second, got.Step)

	for _, bad := range []string{`not json`, `{}`, `{"from": "-1h", "step": true}`, `{"from": "-1h", "to": "later"}`, `{"from": "-1h", "unknown": 1}`} {
		code, body = post(bad)
		require.Equal(t, http.StatusBadRequest, code, bad)
		require.Contains(t, body, `"errorType":"bad_data"`)
	}
	for err, want := range map[error]int{
		fmt.Errorf("%w: no alerting rule named A", backtest.ErrInvalid): http.StatusBadRequest,
		fmt.Errorf("backtest: %w", ErrBacktestBusy):                     http.StatusTooManyRequests,
		context.DeadlineExceeded:                                        http.StatusServiceUnavailable,
		errors.New("no configuration is loaded yet"):                    http.StatusInternalServerError,
	} {
		fail = err
		code, body = post(`{"from": "-1h"}`)
		require.Equal(t, want, code, body)
		require.Contains(t, body, err.Error())
	}

	// Not served without Options.Backtest.
	srv = newTestServer(t, Options{})
	resp, err := http.Post(srv.URL+"/api/v1/backtest", "application/json", strings.NewReader(`{"from": "-1h"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEqual(t, http.StatusOK, resp.StatusCode)
}
