package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/dispatch"
)

// NotificationHistory lists recorded delivery attempts, newest first.
type NotificationHistory interface {
	List(ctx context.Context, f NotificationFilter) ([]Notification, error)
}

// NotificationFilter selects delivery attempts; empty fields match
// everything.
type NotificationFilter struct {
	Receiver    string
	GroupKey    string
	Integration string
	// Status is "success", "failure" or "" (both).
	Status string
	// Limit is the most attempts returned, from 1 to MaxNotificationLimit.
	Limit int
	// Before, if set, selects attempts made before it (to page back).
	Before time.Time
}

// Limits of GET /api/v1/notifications.
const (
	DefaultNotificationLimit = 100
	MaxNotificationLimit     = 1000
)

// Notification is one recorded delivery attempt.
type Notification struct {
	// ID identifies the attempt; later attempts have larger IDs.
	ID      int64
	Attempt dispatch.Attempt
	// AlertsTotal is how many alerts the notification carried; the
	// history may keep only the first of them in Attempt.Alerts.
	AlertsTotal int
}

// notificationJSON is one attempt as GET /api/v1/notifications shows it.
type notificationJSON struct {
	ID              int64                   `json:"id"`
	Time            time.Time               `json:"time"`
	DurationSeconds float64                 `json:"duration_seconds"`
	Receiver        string                  `json:"receiver"`
	Integration     string                  `json:"integration"`
	GroupKey        string                  `json:"groupKey"`
	Status          string                  `json:"status"`
	Alerts          []notificationAlertJSON `json:"alerts"`
	AlertsTotal     int                     `json:"alertsTotal"`
	Attempt         int                     `json:"attempt"`
	Success         bool                    `json:"success"`
	Error           string                  `json:"error"`
	Reason          string                  `json:"reason"`
}

type notificationAlertJSON struct {
	Labels model.LabelSet `json:"labels"`
}

// notifications serves GET /api/v1/notifications: the history of delivery
// attempts, newest first, filtered by receiver, group (key), integration
// and status (success or failure); limit (default 100, at most 1000) and
// before (RFC 3339 or Unix seconds) page through it.
func (h *handler) notifications(w http.ResponseWriter, r *http.Request) {
	f, err := parseNotificationFilter(r)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	list, err := h.opts.Notifications.List(r.Context(), f)
	if err != nil {
		h.opts.Logger.Error("Reading the notification history failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiResponse{Status: "error", ErrorType: "internal", Error: err.Error()})
		return
	}
	out := make([]notificationJSON, len(list))
	for i, n := range list {
		out[i] = toNotificationJSON(n)
	}
	writeJSON(w, http.StatusOK, apiResponse{Status: "success", Data: out})
}

func toNotificationJSON(n Notification) notificationJSON {
	a := n.Attempt
	alerts := make([]notificationAlertJSON, len(a.Alerts))
	for i, ls := range a.Alerts {
		alerts[i] = notificationAlertJSON{Labels: ls}
	}
	return notificationJSON{
		ID: n.ID, Time: a.At.UTC(), DurationSeconds: a.Duration.Seconds(), Receiver: a.Receiver,
		Integration: a.Integration, GroupKey: a.GroupKey, Status: a.Status, Alerts: alerts,
		AlertsTotal: n.AlertsTotal, Attempt: a.Attempt, Success: a.Err == "", Error: a.Err, Reason: a.Reason,
	}
}

// parseNotificationFilter reads the query parameters of
// GET /api/v1/notifications.
func parseNotificationFilter(r *http.Request) (NotificationFilter, error) {
	q := r.URL.Query()
	f := NotificationFilter{
		Receiver: q.Get("receiver"), GroupKey: q.Get("group"), Integration: q.Get("integration"),
		Status: q.Get("status"), Limit: DefaultNotificationLimit,
	}
	if f.Status != "" && f.Status != "success" && f.Status != "failure" {
		return f, fmt.Errorf("invalid status %q: want success or failure", f.Status)
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return f, fmt.Errorf("invalid limit %q: want a positive integer (at most %d)", s, MaxNotificationLimit)
		}
		f.Limit = min(n, MaxNotificationLimit)
	}
	if s := q.Get("before"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			return f, fmt.Errorf("invalid before %q: want RFC 3339 or Unix seconds", s)
		}
		f.Before = t
	}
	return f, nil
}

// parseTime reads a time as Prometheus' API does: Unix seconds (with a
// fraction) or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e12 {
			return time.Time{}, fmt.Errorf("time %q out of range", s)
		}
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
