package web

import (
	"errors"
	"net/http"
	"time"
)

// ErrNotFound is what Options' functions return (wrapped) for a name that
// does not exist; the API answers 404.
var ErrNotFound = errors.New("not found")

// ReceiverTestResult is the outcome of a test notification to one
// integration of a receiver.
type ReceiverTestResult struct {
	// Integration is the kind and index, "webhook/0".
	Integration string
	Success     bool
	// Error says why it failed; empty on success.
	Error    string
	Duration time.Duration
}

type receiverTestJSON struct {
	Receiver     string                `json:"receiver"`
	Success      bool                  `json:"success"`
	Error        string                `json:"error,omitempty"`
	Integrations []integrationTestJSON `json:"integrations"`
}

// noIntegrations is the honest result of testing a receiver without
// integrations: nothing was sent.
const noIntegrations = "the receiver has no integrations: nothing was sent (its alerts are dropped, as in Alertmanager)"

type integrationTestJSON struct {
	Integration     string  `json:"integration"`
	Success         bool    `json:"success"`
	Error           string  `json:"error,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// testReceiver serves POST /api/v1/receivers/{name}/test: it sends a test
// notification to every integration of the receiver and reports each
// outcome. success is false if any integration failed; the status is 200
// either way, since the test itself ran.
func (h *handler) testReceiver(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	results, err := h.opts.TestReceiver(r.Context(), name)
	switch {
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, apiResponse{Status: "error", ErrorType: "not_found", Error: err.Error()})
		return
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, apiResponse{Status: "error", ErrorType: "internal", Error: err.Error()})
		return
	}
	out := receiverTestJSON{Receiver: name, Success: true, Integrations: make([]integrationTestJSON, len(results))}
	for i, res := range results {
		out.Integrations[i] = integrationTestJSON{
			Integration: res.Integration, Success: res.Success, Error: res.Error, DurationSeconds: res.Duration.Seconds(),
		}
		out.Success = out.Success && res.Success
	}
	if len(results) == 0 {
		out.Success, out.Error = false, noIntegrations
	}
	h.opts.Logger.Info("Test notification sent", "receiver", name, "success", out.Success)
	writeJSON(w, http.StatusOK, apiResponse{Status: "success", Data: out})
}
