package web

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
)

// ReceiverSummary is how a receiver's deliveries went: its last success,
// its last failure and why, and its attempts and failed attempts in the
// last hour.
type ReceiverSummary struct {
	Receiver                 string
	LastSuccess, LastFailure time.Time
	LastError, LastReason    string
	Attempts, Failures       int
}

// FailurePercent is the share of failed attempts.
func (s ReceiverSummary) FailurePercent() int {
	if s.Attempts == 0 {
		return 0
	}
	return (100*s.Failures + s.Attempts/2) / s.Attempts
}

// ReceiverSummaries is what the notification history tells of each
// receiver; a NotificationHistory may implement it.
type ReceiverSummaries interface {
	Summary(ctx context.Context, receivers []string, since time.Time) ([]ReceiverSummary, error)
}

// Bounds of the notifications page: it lists notificationsPerPage
// notifications, folding the attempts of each, and reads at most
// notificationScan attempts to find them.
const (
	notificationsPerPage = 100
	notificationScan     = 5000
	summaryWindow        = time.Hour
)

type notificationsData struct {
	Available bool
	// The filters: receiver, integration, outcome (sent, failed), group
	// key and alert matchers.
	Receiver, Integration, Outcome, Group, Alert string
	Receivers                                    []string
	Error                                        string
	Items                                        []*uiNotification
	Summaries                                    []ReceiverSummary
	OlderURL, NewestURL                          string
	Before                                       time.Time
	// Scanned says the page stopped reading after notificationScan
	// attempts.
	Scanned bool
}

// uiNotification is one notification: its attempts folded, the last
// one's outcome.
type uiNotification struct {
	Last Notification
	// FirstAt is when its first attempt (of those read) started; Attempts
	// counts them.
	FirstAt  time.Time
	Attempts int
	Alerts   []uiAlertRef
	More     int // the alerts not listed
	// GroupURL lists the notifications of its group.
	GroupURL string
	// minAttempt is the lowest attempt number folded in so far.
	minAttempt int
}

// notifications serves the notification history: one row per
// notification (its retries folded in, with their count and the final
// outcome), newest first, filtered by receiver, integration, outcome,
// group and alert; and a summary per receiver.
func (u *ui) notifications(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := &notificationsData{
		Available: u.h.opts.Notifications != nil, Receiver: q.Get("receiver"), Integration: q.Get("integration"),
		Outcome: q.Get("outcome"), Group: q.Get("group"), Alert: q.Get("alert"),
	}
	if u.h.opts.Routing != nil {
		d.Receivers = u.h.opts.Routing.ReceiverNames()
	}
	status := http.StatusOK
	var before time.Time
	if s := q.Get("before"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			d.Error, status = "invalid before: want RFC 3339 or Unix seconds", http.StatusBadRequest
		}
		before, d.Before = t, t
	}
	if d.Outcome != "" && d.Outcome != "sent" && d.Outcome != "failed" {
		d.Error, status = "invalid outcome: want sent or failed", http.StatusBadRequest
	}
	ms, err := parseMatcherExpr(u.h.opts.MatcherSyntax, d.Alert)
	if err != nil {
		d.Error, status = "invalid alert matchers: "+err.Error(), http.StatusBadRequest
	}
	if d.Available && d.Error == "" {
		if err := u.foldNotifications(r.Context(), d, before, ms); err != nil {
			u.h.opts.Logger.Error("Reading the notification history failed", "err", err)
			d.Error, status = "reading the notification history failed: "+err.Error(), http.StatusInternalServerError
		}
		if sum, ok := u.h.opts.Notifications.(ReceiverSummaries); ok && d.Error == "" {
			rcv := d.Receivers
			if d.Receiver != "" {
				rcv = []string{d.Receiver}
			}
			if d.Summaries, err = sum.Summary(r.Context(), rcv, time.Now().Add(-summaryWindow)); err != nil {
				u.h.opts.Logger.Error("Reading the notification history failed", "err", err)
				d.Error, status = "reading the notification history failed: "+err.Error(), http.StatusInternalServerError
			}
		}
	}
	filters := map[string]string{"receiver": d.Receiver, "integration": d.Integration, "outcome": d.Outcome, "group": d.Group, "alert": d.Alert}
	if len(d.Items) > notificationsPerPage {
		d.Items = d.Items[:notificationsPerPage]
		older := map[string]string{"before": d.Items[len(d.Items)-1].FirstAt.UTC().Format(time.RFC3339Nano)}
		for k, v := range filters {
			older[k] = v
		}
		d.OlderURL = withQuery(u.url("/notifications"), older)
	}
	if !d.Before.IsZero() {
		d.NewestURL = withQuery(u.url("/notifications"), filters)
	}
	for _, n := range d.Items {
		n.GroupURL = withQuery(u.url("/notifications"), map[string]string{"group": n.Last.Attempt.GroupKey})
	}
	u.render(w, r, status, "notifications", pageData{Title: "Notifications", Nav: "notifications", Data: d})
}

// foldNotifications reads attempts newest first and folds each run of
// retries of one notification (the same receiver, integration and group,
// attempt numbers counting down to 1) into one row, until it has one more
// row than a page or has read notificationScan attempts.
func (u *ui) foldNotifications(ctx context.Context, d *notificationsData, before time.Time, alert labels.Matchers) error {
	open := map[string]*uiNotification{}
	read := 0
	for read < notificationScan && len(d.Items) <= notificationsPerPage {
		list, err := u.h.opts.Notifications.List(ctx, NotificationFilter{
			Receiver: d.Receiver, Integration: d.Integration, GroupKey: d.Group, Limit: MaxNotificationLimit, Before: before,
		})
		if err != nil {
			return err
		}
		for _, n := range list {
			read++
			a := n.Attempt
			key := a.Receiver + "\x00" + a.Integration + "\x00" + a.GroupKey
			if o := open[key]; o != nil && o.minAttempt > 1 && a.Attempt == o.minAttempt-1 {
				o.Attempts++
				o.minAttempt, o.FirstAt = a.Attempt, a.At
				if a.Attempt == 1 {
					delete(open, key)
				}
				continue
			}
			it := &uiNotification{Last: n, FirstAt: a.At, Attempts: 1, minAttempt: a.Attempt, More: max(0, n.AlertsTotal-3)}
			if a.Attempt > 1 {
				open[key] = it
			} else {
				delete(open, key)
			}
			if !notificationWanted(it, d.Outcome, alert) {
				// Still open, to fold its retries away.
				continue
			}
			for i, ls := range a.Alerts {
				if i == 3 {
					break
				}
				it.Alerts = append(it.Alerts, u.alertRef(ls))
			}
			d.Items = append(d.Items, it)
		}
		if len(list) < MaxNotificationLimit {
			return nil
		}
		before = list[len(list)-1].Attempt.At
	}
	d.Scanned = read >= notificationScan
	return nil
}

// uiAlertRef names an alert briefly (its name and instance), links its
// page, and holds all its labels for a tooltip.
type uiAlertRef struct {
	Name, Detail, URL, Labels string
}

func (u *ui) alertRef(ls model.LabelSet) uiAlertRef {
	r := uiAlertRef{Name: string(ls[model.AlertNameLabel]), URL: u.url("/alerts/" + ls.Fingerprint().String()), Labels: labelSetExpr(ls)}
	for _, n := range []model.LabelName{"instance", "pod", "job", "service"} {
		if v, ok := ls[n]; ok {
			r.Detail = string(v)
			break
		}
	}
	return r
}

// notificationWanted applies the filters the history cannot: the final
// outcome, and the alerts.
func notificationWanted(n *uiNotification, outcome string, alert labels.Matchers) bool {
	failed := n.Last.Attempt.Err != ""
	if outcome == "sent" && failed || outcome == "failed" && !failed {
		return false
	}
	if len(alert) == 0 {
		return true
	}
	for _, ls := range n.Last.Attempt.Alerts {
		if alert.Matches(ls) {
			return true
		}
	}
	return false
}
