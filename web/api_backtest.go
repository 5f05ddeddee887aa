package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/alerter/alerter/backtest"
)

// BacktestRequest is a backtest asked for through POST /api/v1/backtest.
type BacktestRequest struct {
	From, To time.Time
	// Step is 0 for each group's own interval or schedule.
	Step time.Duration
	// Rule, if set, selects the alerting rules of that name.
	Rule string
}

// ErrBacktestBusy is what Options.Backtest returns (wrapped) while another
// backtest runs; the API answers 429.
var ErrBacktestBusy = errors.New("another backtest is running; try again when it has finished")

// backtestBody is the JSON body of POST /api/v1/backtest. from and to take
// what --from and --to take; step a duration ("1m") or seconds.
type backtestBody struct {
	From string          `json:"from"`
	To   string          `json:"to"`
	Step json.RawMessage `json:"step"`
	Rule string          `json:"rule"`
}

// parse checks the body and turns it into a request; to defaults to now.
func (b *backtestBody) parse(now time.Time) (BacktestRequest, error) {
	var req BacktestRequest
	if b.From == "" {
		return req, errors.New("from is required")
	}
	if b.To == "" {
		b.To = "now"
	}
	from, err := backtest.ParseTime(b.From, now)
	if err != nil {
		return req, err
	}
	to, err := backtest.ParseTime(b.To, now)
	if err != nil {
		return req, err
	}
	step := ""
	if s := bytes.TrimSpace(b.Step); len(s) > 0 && !bytes.Equal(s, []byte("null")) {
		if err := json.Unmarshal(s, &step); err != nil {
			var secs float64
			if json.Unmarshal(s, &secs) != nil {
				return req, errors.New("step must be a duration string such as \"1m\" or a number of seconds")
			}
			step = strconv.FormatFloat(secs, 'f', -1, 64)
		}
	}
	d, err := backtest.ParseStep(step)
	if err != nil {
		return req, err
	}
	return BacktestRequest{From: from, To: to, Step: d, Rule: b.Rule}, nil
}

// backtest serves POST /api/v1/backtest: it replays the running
// configuration's alerting rules and routing over the range and answers
// the report, in Prometheus' envelope. Bad input is a 400; a backtest
// already running, a 429.
func (h *handler) backtest(w http.ResponseWriter, r *http.Request) {
	var body backtestBody
	if err := readJSON(r, &body, true); err != nil {
		writeJSON(w, bodyErrorStatus(err), apiResponse{Status: "error", ErrorType: "bad_data", Error: err.Error()})
		return
	}
	req, err := body.parse(time.Now())
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	rep, err := h.opts.Backtest(r.Context(), req)
	switch {
	case errors.Is(err, backtest.ErrInvalid):
		badRequest(w, "%v", err)
		return
	case errors.Is(err, ErrBacktestBusy):
		writeJSON(w, http.StatusTooManyRequests, apiResponse{Status: "error", ErrorType: "unavailable", Error: err.Error()})
		return
	case errors.Is(err, context.DeadlineExceeded):
		writeJSON(w, http.StatusServiceUnavailable, apiResponse{Status: "error", ErrorType: "timeout", Error: err.Error()})
		return
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, apiResponse{Status: "error", ErrorType: "internal", Error: err.Error()})
		return
	}
	h.opts.Logger.Info("Backtest run", "from", req.From, "to", req.To, "rules", len(rep.Rules), "evaluations", rep.Evaluations)
	// Streamed: a report may hold tens of thousands of notifications.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"status":"success","data":`)
	if err := backtest.WriteJSON(w, rep); err != nil {
		return // the client went away
	}
	_, _ = io.WriteString(w, "}\n")
}
