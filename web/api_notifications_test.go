package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/dispatch"
)

// fakeHistory returns its entries and remembers the last filter.
type fakeHistory struct {
	entries []Notification
	err     error
	got     NotificationFilter
}

func (f *fakeHistory) List(_ context.Context, nf NotificationFilter) ([]Notification, error) {
	f.got = nf
	return f.entries, f.err
}

func TestNotificationsJSONShape(t *testing.T) {
	hist := &fakeHistory{entries: []Notification{{
		ID: 7, AlertsTotal: 150,
		Attempt: dispatch.Attempt{
			At: ts.Add(1500 * time.Millisecond).In(time.FixedZone("CEST", 7200)), Duration: 250 * time.Millisecond,
			Receiver: "team", Integration: "webhook/1", GroupKey: `{}/{team="a"}:{alertname="Down"}`, Status: "firing",
			Alerts:  []model.LabelSet{{"alertname": "Down", "instance": "a"}, {"alertname": "Down", "instance": "b"}},
			Attempt: 3, Err: "unexpected status code 500: boom", Reason: dispatch.ReasonServerError,
		},
	}, {
		ID: 6, AlertsTotal: 0,
		Attempt: dispatch.Attempt{At: ts, Receiver: "team", Integration: "webhook/0", GroupKey: "g", Status: "resolved", Attempt: 1},
	}}}
	srv := newTestServer(t, Options{Notifications: hist})
	code, body := get(t, srv.URL+"/api/v1/notifications")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"status":"success","data":[{
		"id":7,"time":"2026-05-01T12:00:01.5Z","duration_seconds":0.25,"receiver":"team","integration":"webhook/1",
		"groupKey":"{}/{team=\"a\"}:{alertname=\"Down\"}","status":"firing",
		"alerts":[{"labels":{"alertname":"Down","instance":"a"}},{"labels":{"alertname":"Down","instance":"b"}}],
		"alertsTotal":150,"attempt":3,"success":false,"error":"unexpected status code 500: boom","reason":"serverError"
	},{
		"id":6,"time":"2026-05-01T12:00:00Z","duration_seconds":0,"receiver":"team","integration":"webhook/0",
		"groupKey":"g","status":"resolved","alerts":[],"alertsTotal":0,"attempt":1,"success":true,"error":"","reason":""
	}]}`, body)
	require.Equal(t, NotificationFilter{Limit: DefaultNotificationLimit}, hist.got)

	hist.entries = nil
	code, body = get(t, srv.URL+"/api/v1/notifications?receiver=team")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"status":"success","data":[]}`, body, "an empty list, not null")
}

func TestNotificationsFilter(t *testing.T) {
	hist := &fakeHistory{}
	srv := newTestServer(t, Options{Notifications: hist})
	q := url.Values{
		"receiver": {"team a"}, "group": {`{}:{alertname="X"}`}, "status": {"failure"},
		"integration": {"webhook/2"}, "limit": {"20"}, "before": {"2026-05-01T12:00:00Z"},
	}
	code, body := get(t, srv.URL+"/api/v1/notifications?"+q.Encode())
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, NotificationFilter{
		Receiver: "team a", GroupKey: `{}:{alertname="X"}`, Status: "failure", Integration: "webhook/2",
		Limit: 20, Before: ts,
	}, hist.got)

	for query, want := range map[string]NotificationFilter{
		"status=success":    {Status: "success", Limit: DefaultNotificationLimit},
		"limit=5000":        {Limit: MaxNotificationLimit},
		"before=1777636800": {Limit: DefaultNotificationLimit, Before: ts},
		"before=1777636800.25": {
			Limit: DefaultNotificationLimit, Before: ts.Add(250 * time.Millisecond),
		},
	} {
		code, body := get(t, srv.URL+"/api/v1/notifications?"+query)
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, want, hist.got, query)
	}
}

func TestNotificationsBadRequests(t *testing.T) {
	hist := &fakeHistory{}
	srv := newTestServer(t, Options{Notifications: hist})
	for query, msg := range map[string]string{
		"status=ok":        `invalid status \"ok\": want success or failure`,
		"limit=abc":        `invalid limit \"abc\"`,
		"limit=0":          `invalid limit \"0\"`,
		"limit=-3":         `invalid limit \"-3\"`,
		"before=yesterday": `invalid before \"yesterday\"`,
		"before=NaN":       `invalid before \"NaN\"`,
	} {
		hist.got = NotificationFilter{Receiver: "untouched"}
		code, body := get(t, srv.URL+"/api/v1/notifications?"+query)
		require.Equal(t, http.StatusBadRequest, code, query)
		require.Contains(t, body, `"errorType":"bad_data"`, query)
		require.Contains(t, body, msg, query)
		require.Equal(t, "untouched", hist.got.Receiver, "%s: not listed", query)
	}

	hist.err = errors.New("disk on fire")
	code, body := get(t, srv.URL+"/api/v1/notifications")
	require.Equal(t, http.StatusInternalServerError, code)
	require.Contains(t, body, "disk on fire")
}

func TestNotificationsNotServedWithoutHistory(t *testing.T) {
	srv := newTestServer(t, Options{})
	code, _ := get(t, srv.URL+"/api/v1/notifications")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = do(t, "POST", srv.URL+"/api/v1/receivers/team/test", "")
	require.Equal(t, http.StatusNotFound, code)
}

func TestTestReceiver(t *testing.T) {
	var asked []string
	srv := newTestServer(t, Options{
		TestReceiver: func(_ context.Context, name string) ([]ReceiverTestResult, error) {
			asked = append(asked, name)
			switch name {
			case "team":
				return []ReceiverTestResult{
					{Integration: "webhook/0", Success: true, Duration: 12 * time.Millisecond},
					{Integration: "webhook/1", Error: "unexpected status code 500: boom", Duration: time.Second},
				}, nil
			case "ok/slash":
				return []ReceiverTestResult{{Integration: "webhook/0", Success: true}}, nil
			case "broken":
				return nil, errors.New("templates: boom")
			}
			return nil, fmt.Errorf("receiver %q: %w", name, ErrNotFound)
		},
	})
	code, body := do(t, "POST", srv.URL+"/api/v1/receivers/team/test", "")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"status":"success","data":{"receiver":"team","success":false,"integrations":[
		{"integration":"webhook/0","success":true,"duration_seconds":0.012},
		{"integration":"webhook/1","success":false,"error":"unexpected status code 500: boom","duration_seconds":1}
	]}}`, body)

	code, body = do(t, "POST", srv.URL+"/api/v1/receivers/ok%2Fslash/test", "")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"status":"success","data":{"receiver":"ok/slash","success":true,"integrations":[
		{"integration":"webhook/0","success":true,"duration_seconds":0}]}}`, body)

	code, body = do(t, "POST", srv.URL+"/api/v1/receivers/nobody/test", "")
	require.Equal(t, http.StatusNotFound, code)
	require.JSONEq(t, `{"status":"error","errorType":"not_found","error":"receiver \"nobody\": not found"}`, body)

	code, body = do(t, "POST", srv.URL+"/api/v1/receivers/broken/test", "")
	require.Equal(t, http.StatusInternalServerError, code)
	require.Contains(t, body, "templates: boom")

	code, _ = do(t, "GET", srv.URL+"/api/v1/receivers/team/test", "")
	require.Equal(t, http.StatusMethodNotAllowed, code, "sending is a POST")
	require.Equal(t, []string{"team", "ok/slash", "nobody", "broken"}, asked)
}
