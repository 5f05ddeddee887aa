package web

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/silences"
)

// The silence form: a plain HTML form that works without JavaScript.
// "Preview" re-renders it with the alerts the matchers select; "Save"
// stores the silence and redirects to its page (303), or re-renders the
// form with what was wrong and what was entered.

// formTime is how the form writes times: what <input type="datetime-local">
// sends, read as UTC.
const formTime = "2006-01-02T15:04:05"

// defaultSilenceDuration is the duration a new silence form proposes.
const defaultSilenceDuration = "2h"

// authorCookie remembers who made the last silence in this browser.
const authorCookie = "alerter_silence_author"

type silenceForm struct {
	ID, Matchers, StartsAt, Duration, EndsAt, CreatedBy, Comment string
	// Offered are labels of an alert or group to tick: each ticked one
	// is a matcher of the silence, besides those typed. OfferedExpr keeps
	// them across a preview or an error.
	Offered     []silenceTick
	OfferedExpr string
	// Errors by field name; Error is about the whole silence.
	Errors  map[string]string
	Error   string
	Preview *previewData
	// Original is the silence being edited.
	Original *uiSilence
	Now      time.Time
}

// silenceTick is a label the silence form offers to match.
type silenceTick struct {
	Name, Value string
	// Matcher is name="value", the checkbox's value.
	Matcher string
	Ticked  bool
}

// newSilence serves the form for a new silence, prefilled from
// ?filter={...} (matchers), or offering the labels of ?labels={...} to
// tick, those named in ?tick=a,b ticked (all without it): the Silence
// links of the alerts page.
func (u *ui) newSilence(w http.ResponseWriter, r *http.Request) {
	if u.noSilences(w, r) {
		return
	}
	q := r.URL.Query()
	f := &silenceForm{Matchers: q.Get("filter"), Duration: defaultSilenceDuration, CreatedBy: author(r)}
	var tick map[string]bool
	if t, ok := q["tick"]; ok {
		tick = map[string]bool{}
		for _, n := range strings.Split(strings.Join(t, ","), ",") {
			tick[strings.TrimSpace(n)] = true
		}
	}
	if err := f.offer(u.h.opts.MatcherSyntax, q.Get("labels"), tick); err != nil {
		f.Errors = map[string]string{"matchers": err.Error()}
	}
	if all := f.allMatchers(); all != "" && f.Errors == nil {
		if ms, err := parseMatcherExpr(u.h.opts.MatcherSyntax, all); err != nil {
			f.Errors = map[string]string{"matchers": err.Error()}
		} else {
			f.Preview = u.preview(ms, time.Now())
		}
	}
	u.renderForm(w, r, http.StatusOK, f)
}

// offer sets the labels the form offers to tick from expr, a label set
// written as equality matchers; tick names those ticked (nil: all).
func (f *silenceForm) offer(syn config.MatcherSyntax, expr string, tick map[string]bool) error {
	if strings.TrimSpace(expr) == "" {
		return nil
	}
	ms, err := parseMatcherExpr(syn, expr)
	if err != nil {
		return err
	}
	f.OfferedExpr = ms.String()
	for _, m := range ms {
		if m.Type != labels.MatchEqual {
			return fmt.Errorf("labels to offer must be name=\"value\", not %s", m)
		}
		f.Offered = append(f.Offered, silenceTick{Name: m.Name, Value: m.Value, Matcher: m.String(), Ticked: tick == nil || tick[m.Name]})
	}
	return nil
}

// allMatchers joins the ticked labels and the typed matchers.
func (f *silenceForm) allMatchers() string {
	var parts []string
	for _, o := range f.Offered {
		if o.Ticked {
			parts = append(parts, o.Matcher)
		}
	}
	typed := strings.TrimSpace(f.Matchers)
	typed = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(typed, "{"), "}"))
	if typed != "" {
		parts = append(parts, typed)
	}
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// editSilence serves the form filled with a silence.
func (u *ui) editSilence(w http.ResponseWriter, r *http.Request) {
	s, ok := u.pathSilence(w, r)
	if !ok {
		return
	}
	now := time.Now()
	orig := u.silenceItem(s, now)
	f := &silenceForm{
		ID: s.ID, Matchers: s.Matchers.String(), CreatedBy: s.CreatedBy, Comment: s.Comment,
		StartsAt: s.StartsAt.UTC().Format(formTime), Duration: model.Duration(s.EndsAt.Sub(s.StartsAt).Round(time.Second)).String(),
		Original: &orig, Preview: u.preview(s.Matchers, now),
	}
	if orig.State == silences.StateExpired {
		// Editing an expired silence makes a new one, from now.
		f.StartsAt = ""
	}
	u.renderForm(w, r, http.StatusOK, f)
}

// saveSilence handles the form's two buttons: preview and save.
func (u *ui) saveSilence(w http.ResponseWriter, r *http.Request) {
	if u.noSilences(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		u.fail(w, r, bodyStatus(err), fmt.Errorf("reading the form: %w", err))
		return
	}
	pf := r.PostForm
	f := &silenceForm{
		ID: pf.Get("id"), Matchers: pf.Get("matchers"), StartsAt: pf.Get("startsAt"), Duration: pf.Get("duration"),
		EndsAt: pf.Get("endsAt"), CreatedBy: strings.TrimSpace(pf.Get("createdBy")), Comment: strings.TrimSpace(pf.Get("comment")),
	}
	ticked := map[string]bool{}
	for _, m := range pf["tick"] {
		ticked[m] = true
	}
	if err := f.offer(u.h.opts.MatcherSyntax, pf.Get("offered"), nil); err == nil {
		for i := range f.Offered {
			f.Offered[i].Ticked = ticked[f.Offered[i].Matcher]
		}
	} else {
		f.Offered = nil
	}
	if f.ID != "" {
		if s, err := u.h.opts.Silences.Get(f.ID); err == nil {
			orig := u.silenceItem(s, time.Now())
			f.Original = &orig
		}
	}
	now := time.Now()
	sil, ms := f.parse(u.h.opts.MatcherSyntax, now)
	if ms != nil {
		f.Preview = u.preview(ms, now)
	}
	if pf.Get("action") == "preview" {
		f.Errors = onlyError(f.Errors, "matchers") // the rest may still be blank
		status := http.StatusOK
		if len(f.Errors) > 0 {
			status = http.StatusBadRequest
		}
		u.renderForm(w, r, status, f)
		return
	}
	if len(f.Errors) > 0 {
		u.renderForm(w, r, http.StatusBadRequest, f)
		return
	}
	id, err := u.h.opts.Silences.Set(r.Context(), sil)
	if err != nil {
		status := silenceErrorStatus(err)
		if status == http.StatusInternalServerError {
			u.h.opts.Logger.Error("Saving a silence failed", "err", err)
		}
		f.Error = err.Error()
		u.renderForm(w, r, status, f)
		return
	}
	u.h.opts.Logger.Info("Silence saved from the web UI", "id", id, "createdBy", sil.CreatedBy)
	http.SetCookie(w, &http.Cookie{
		Name: authorCookie, Value: url.QueryEscape(sil.CreatedBy), Path: u.url("/"), MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
	http.Redirect(w, r, u.url("/silences/"+id+"?done=saved"), http.StatusSeeOther)
}

// parse validates the form. It returns the silence and, if they parsed,
// the matchers (for the preview); problems go into f.Errors.
func (f *silenceForm) parse(syn config.MatcherSyntax, now time.Time) (silences.Silence, labels.Matchers) {
	f.Errors = map[string]string{}
	sil := silences.Silence{ID: f.ID, CreatedBy: f.CreatedBy, Comment: f.Comment}
	ms, err := parseMatcherExpr(syn, f.allMatchers())
	switch {
	case err != nil:
		f.Errors["matchers"] = err.Error()
	case len(ms) == 0:
		f.Errors["matchers"] = "a silence needs at least one matcher: tick a label or type one, such as {alertname=\"Example\"}"
	default:
		sil.Matchers = ms
		probe := silences.Silence{Matchers: ms, StartsAt: now, EndsAt: now.Add(time.Hour), CreatedBy: "x", Comment: "x"}
		if err := probe.Validate(); err != nil {
			f.Errors["matchers"] = err.Error()
		}
	}
	sil.StartsAt = now
	if strings.TrimSpace(f.StartsAt) != "" {
		t, err := parseFormTime(f.StartsAt)
		if err != nil {
			f.Errors["startsAt"] = err.Error()
		}
		sil.StartsAt = t
	}
	if strings.TrimSpace(f.EndsAt) != "" {
		t, err := parseFormTime(f.EndsAt)
		if err != nil {
			f.Errors["endsAt"] = err.Error()
		}
		sil.EndsAt = t
	} else {
		d, err := model.ParseDuration(strings.TrimSpace(f.Duration))
		if err != nil || d <= 0 {
			f.Errors["duration"] = fmt.Sprintf("%q is not a duration: write 30m, 2h, 1d or 1w (or give an end)", f.Duration)
		}
		sil.EndsAt = sil.StartsAt.Add(time.Duration(d))
	}
	if _, ok := f.Errors["endsAt"]; !ok && !sil.EndsAt.After(sil.StartsAt) {
		f.Errors["endsAt"] = "the end must be after the start"
	}
	if !sil.EndsAt.After(now) && len(f.Errors) == 0 {
		f.Errors["endsAt"] = "the end is in the past: the silence would never be active"
	}
	if f.CreatedBy == "" {
		f.Errors["createdBy"] = "say who makes this silence"
	}
	if f.Comment == "" {
		f.Errors["comment"] = "say why (a ticket, an incident, maintenance)"
	}
	if len(ms) == 0 || err != nil {
		return sil, nil
	}
	return sil, ms
}

// parseFormTime reads a time from the form: RFC 3339, or the
// datetime-local format (seconds optional), read as UTC.
func parseFormTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{formTime, "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: write 2006-01-02T15:04 (UTC) or RFC 3339", s)
}

func onlyError(errs map[string]string, field string) map[string]string {
	if msg, ok := errs[field]; ok {
		return map[string]string{field: msg}
	}
	return nil
}

// author proposes who makes a silence: the basic-auth user, else the
// name the browser last used.
func author(r *http.Request) string {
	if user, _, ok := r.BasicAuth(); ok && user != "" {
		return user
	}
	if c, err := r.Cookie(authorCookie); err == nil {
		if v, err := url.QueryUnescape(c.Value); err == nil {
			return v
		}
	}
	return ""
}

func (u *ui) renderForm(w http.ResponseWriter, r *http.Request, status int, f *silenceForm) {
	f.Now = time.Now()
	title := "New silence"
	if f.Original != nil {
		title = "Edit silence " + f.Original.ID
	}
	u.render(w, r, status, "silence_form", pageData{Title: title, Nav: "silences", Data: f})
}

// silencePreview serves the preview fragment for the form's script:
// the alerts the matchers select, or why they do not parse (status 400).
func (u *ui) silencePreview(w http.ResponseWriter, r *http.Request) {
	ms, err := parseMatcherExpr(u.h.opts.MatcherSyntax, r.URL.Query().Get("matchers"))
	p := &previewData{}
	status := http.StatusOK
	switch {
	case err != nil:
		p.Error, status = err.Error(), http.StatusBadRequest
	case len(ms) == 0:
		p.Error, status = "a silence needs at least one matcher", http.StatusBadRequest
	default:
		probe := silences.Silence{Matchers: ms, StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour), CreatedBy: "x", Comment: "x"}
		if err := probe.Validate(); err != nil {
			p.Error, status = err.Error(), http.StatusBadRequest
		} else {
			p = u.preview(ms, time.Now())
		}
	}
	var buf bytes.Buffer
	if err := u.pages["silence_form"].ExecuteTemplate(&buf, "preview", p); err != nil {
		http.Error(w, "rendering the preview failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
