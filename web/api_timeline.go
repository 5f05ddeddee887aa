package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/dispatch"
)

// AlertEvents gives the recorded timelines of alerts (dispatch.Event).
type AlertEvents interface {
	// Timeline returns the timelines of the alerts q selects, most
	// recently seen first; more reports that more alerts matched than
	// were returned.
	Timeline(ctx context.Context, q TimelineQuery) (tls []AlertTimeline, more bool, err error)
}

// TimelineQuery selects alerts by fingerprint, or by matchers on their
// labels; events before Since are left out.
type TimelineQuery struct {
	Fingerprints []model.Fingerprint
	Matchers     labels.Matchers
	Since        time.Time
}

// AlertTimeline is what happened to one alert, oldest first.
type AlertTimeline struct {
	Fingerprint model.Fingerprint
	Labels      model.LabelSet
	Events      []dispatch.Event
	// Truncated is set when older events were left out.
	Truncated bool
}

// timelineJSON is one alert's timeline as the API shows it.
type timelineJSON struct {
	Fingerprint string         `json:"fingerprint"`
	Labels      model.LabelSet `json:"labels"`
	// Now is the alert as the routing holds it now; nil when it is not
	// active.
	Now       *gettableAlert `json:"now"`
	Events    []eventJSON    `json:"events"`
	Truncated bool           `json:"truncated"`
}

// eventJSON is one event; Text says it in a sentence.
type eventJSON struct {
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"`
	Text        string    `json:"text"`
	GroupKey    string    `json:"groupKey,omitempty"`
	Receiver    string    `json:"receiver,omitempty"`
	Integration string    `json:"integration,omitempty"`
	Rule        string    `json:"rule,omitempty"`
	Value       string    `json:"value,omitempty"`
	Status      string    `json:"status,omitempty"`
	Attempts    int       `json:"attempts,omitempty"`
	Error       string    `json:"error,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Silences    []string  `json:"silences,omitempty"`
	Inhibitor   string    `json:"inhibitor,omitempty"`
	Intervals   []string  `json:"intervals,omitempty"`
	SentAt      time.Time `json:"sentAt,omitzero"`
}

// timelineData is what GET /api/v1/alerts/timeline answers.
type timelineData struct {
	Alerts []timelineJSON `json:"alerts"`
	// More is set when more alerts matched than are listed.
	More bool `json:"more"`
}

// maxTimelineSelectors bounds the match[] and fingerprint parameters of
// one request: each costs a read.
const maxTimelineSelectors = 20

// errNoTimelineQuery is the error of a timeline request that selects
// nothing.
var errNoTimelineQuery = errors.New("select alerts with match[] (matchers, {alertname=\"X\"}) or fingerprint")

// parseTimelineQuery reads the parameters of GET /api/v1/alerts/timeline:
// match[] (each a set of matchers; the alerts any set selects) or
// fingerprint (repeatable), and since (a duration back from now, or a
// time).
func (h *handler) parseTimelineQuery(r *http.Request, now time.Time) (TimelineQuery, []labels.Matchers, error) {
	var (
		q    TimelineQuery
		sets []labels.Matchers
	)
	params := r.URL.Query()
	if n := len(params["fingerprint"]) + len(params["match[]"]); n > maxTimelineSelectors {
		return q, nil, fmt.Errorf("%d match[] and fingerprint parameters: at most %d", n, maxTimelineSelectors)
	}
	for _, s := range params["fingerprint"] {
		fp, err := model.ParseFingerprint(strings.TrimSpace(s))
		if err != nil {
			return q, nil, fmt.Errorf("invalid fingerprint %q: want 16 hexadecimal digits", s)
		}
		q.Fingerprints = append(q.Fingerprints, fp)
	}
	for _, s := range params["match[]"] {
		ms, err := parseMatcherExpr(h.opts.MatcherSyntax, s)
		if err != nil {
			return q, nil, fmt.Errorf("invalid match[]: %w", err)
		}
		if len(ms) == 0 {
			return q, nil, fmt.Errorf("invalid match[] %q: no matcher", s)
		}
		sets = append(sets, ms)
	}
	if len(q.Fingerprints) == 0 && len(sets) == 0 {
		return q, nil, errNoTimelineQuery
	}
	if s := params.Get("since"); s != "" {
		if d, err := model.ParseDuration(s); err == nil {
			q.Since = now.Add(-time.Duration(d))
		} else if t, err := parseTime(s); err == nil {
			q.Since = t
		} else {
			return q, nil, fmt.Errorf("invalid since %q: want a duration (24h) or a time (RFC 3339, Unix seconds)", s)
		}
	}
	return q, sets, nil
}

// timeline answers a parsed query: each matcher set is asked for in turn
// (the union of what they select), then the alerts' current state is
// added.
func (h *handler) timeline(ctx context.Context, q TimelineQuery, sets []labels.Matchers) (timelineData, error) {
	out := timelineData{Alerts: []timelineJSON{}}
	var tls []AlertTimeline
	seen := map[model.Fingerprint]bool{}
	add := func(got []AlertTimeline, more bool) {
		out.More = out.More || more
		for _, tl := range got {
			if !seen[tl.Fingerprint] {
				seen[tl.Fingerprint] = true
				tls = append(tls, tl)
			}
		}
	}
	if len(q.Fingerprints) > 0 {
		got, more, err := h.opts.Events.Timeline(ctx, TimelineQuery{Fingerprints: q.Fingerprints, Since: q.Since})
		if err != nil {
			return out, err
		}
		add(got, more)
	}
	for _, ms := range sets {
		got, more, err := h.opts.Events.Timeline(ctx, TimelineQuery{Matchers: ms, Since: q.Since})
		if err != nil {
			return out, err
		}
		add(got, more)
	}
	now := time.Now()
	for _, tl := range tls {
		tj := timelineJSON{Fingerprint: tl.Fingerprint.String(), Labels: tl.Labels, Events: []eventJSON{}, Truncated: tl.Truncated}
		if rt := h.opts.Routing; rt != nil {
			if a, ok := rt.Store().Get(tl.Fingerprint); ok {
				if v, ok := h.alertView(a, rt.Dispatcher(), &alertFilter{active: true, silenced: true, inhibited: true, unprocessed: true}, now); ok {
					tj.Now = &v
				}
			}
		}
		for _, ev := range withRouting(tl.Events) {
			tj.Events = append(tj.Events, eventJSON{
				Time: ev.At.UTC(), Kind: ev.Kind, Text: h.describeEvent(&ev), GroupKey: ev.GroupKey, Receiver: ev.Receiver,
				Integration: ev.Integration, Rule: ev.Rule, Value: ev.Value, Status: ev.Status, Attempts: ev.Attempts,
				Error: ev.Error, Reason: ev.Reason, Silences: ev.Silences, Inhibitor: ev.Inhibitor, Intervals: ev.Intervals,
				SentAt: ev.SentAt,
			})
		}
		out.Alerts = append(out.Alerts, tj)
	}
	return out, nil
}

// withRouting puts a "routed" event before the first event of each group
// the alert is in: where the routing tree sent it. Those are not recorded
// (one row per alert and group would cost as much as the rest).
func withRouting(events []dispatch.Event) []dispatch.Event {
	out := make([]dispatch.Event, 0, len(events)+1)
	groups := map[string]bool{}
	for _, ev := range events {
		if ev.Kind != dispatch.EventRouted && ev.GroupKey != "" && !groups[ev.GroupKey] {
			groups[ev.GroupKey] = true
			out = append(out, dispatch.Event{At: ev.At, Fingerprint: ev.Fingerprint, Labels: ev.Labels, Kind: dispatch.EventRouted,
				GroupKey: ev.GroupKey, Receiver: ev.Receiver})
		}
		out = append(out, ev)
	}
	return out
}

// alertTimeline serves GET /api/v1/alerts/timeline: everything recorded
// of the selected alerts, to answer "why was I (not) paged?".
func (h *handler) alertTimeline(w http.ResponseWriter, r *http.Request) {
	q, sets, err := h.parseTimelineQuery(r, time.Now())
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	data, err := h.timeline(r.Context(), q, sets)
	if err != nil {
		h.opts.Logger.Error("Reading the alert events failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiResponse{Status: "error", ErrorType: "internal", Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, apiResponse{Status: "success", Data: data})
}

// describeEvent says what an event means, in a sentence: who muted the
// alert and until when, why a notification failed.
func (h *handler) describeEvent(ev *dispatch.Event) string {
	where := ev.Receiver
	if ev.Integration != "" {
		where += " (" + ev.Integration + ")"
	}
	switch ev.Kind {
	case dispatch.EventPending:
		return fmt.Sprintf("rule %s returned it (value %s): pending until its `for` passes", ev.Rule, ev.Value)
	case dispatch.EventFiring:
		return fmt.Sprintf("rule %s fires it (value %s)", ev.Rule, ev.Value)
	case dispatch.EventInactive:
		return fmt.Sprintf("rule %s no longer returns it: resolved", ev.Rule)
	case dispatch.EventRouted:
		return fmt.Sprintf("routed to receiver %s, group %s", ev.Receiver, ev.GroupKey)
	case dispatch.EventSent:
		return fmt.Sprintf("notified %s as %s%s", where, ev.Status, attemptsText(ev.Attempts))
	case dispatch.EventFailed:
		return fmt.Sprintf("notifying %s failed%s: %s", where, attemptsText(ev.Attempts), ev.Error)
	case dispatch.EventDeduplicated:
		if ev.SentAt.IsZero() {
			return fmt.Sprintf("not sent to %s: already notified", where)
		}
		return fmt.Sprintf("not sent to %s: already notified at %s (repeat_interval not passed)", where, absTime(ev.SentAt))
	case dispatch.EventMuted:
		return fmt.Sprintf("not sent to %s: muted by time interval %s", where, strings.Join(ev.Intervals, ", "))
	case dispatch.EventSilenced:
		parts := make([]string, len(ev.Silences))
		for i, id := range ev.Silences {
			parts[i] = h.silenceText(id)
		}
		return fmt.Sprintf("not sent to %s: silenced by %s", where, strings.Join(parts, "; "))
	case dispatch.EventInhibited:
		return fmt.Sprintf("not sent to %s: inhibited by %s", where, h.alertText(ev.Inhibitor))
	case dispatch.EventDropped:
		return fmt.Sprintf("not sent: receiver %s has no integrations (its alerts go nowhere, as in Alertmanager)", ev.Receiver)
	}
	return ev.Kind
}

func attemptsText(n int) string {
	if n > 1 {
		return fmt.Sprintf(" after %d attempts", n)
	}
	return ""
}

// silenceText names a silence with its author, comment and end.
func (h *handler) silenceText(id string) string {
	if h.opts.Silences == nil {
		return "silence " + id
	}
	s, err := h.opts.Silences.Get(id)
	if err != nil {
		return "silence " + id + " (since deleted)"
	}
	return fmt.Sprintf("silence %s by %s (%q, until %s)", id, s.CreatedBy, s.Comment, absTime(s.EndsAt))
}

// alertText names an alert by its labels when the store still holds it.
func (h *handler) alertText(fingerprint string) string {
	if fp, err := model.ParseFingerprint(fingerprint); err == nil && h.opts.Routing != nil {
		if a, ok := h.opts.Routing.Store().Get(fp); ok {
			return "alert " + a.Labels.String()
		}
	}
	return "alert " + fingerprint
}
