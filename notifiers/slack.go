package notifiers

import (
	"bytes"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/prometheus/alertmanager/template"
	"github.com/slack-go/slack"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

// Slack posts one message per notification to Slack, built as
// Alertmanager builds it: one attachment with every field templated. It
// posts to an incoming webhook, or, with a bot token, through the Web API
// (chat.postMessage), where update_message and post_updates_to_thread
// make a group's later notifications edit, or reply to, its first message.
type Slack struct {
	cfg       *config.SlackConfig
	tmpl      *template.Template
	client    *http.Client
	userAgent string
	// messages holds the first message of each group; nil unless
	// update_message or post_updates_to_thread is set.
	messages *SlackMessages
	// slots bounds the requests in flight, as for webhooks.
	slots chan struct{}
}

// SlackOption configures a Slack notifier.
type SlackOption func(*Slack)

// WithSlackUserAgent sets the User-Agent of Slack requests.
func WithSlackUserAgent(ua string) SlackOption {
	return func(s *Slack) { s.userAgent = ua }
}

// WithSlackMessages makes the notifier remember first messages in m, which
// may outlive it: give the notifier that replaces this one on a reload the
// same m, so that its groups keep updating their messages. Use one
// SlackMessages per integration.
func WithSlackMessages(m *SlackMessages) SlackOption {
	return func(s *Slack) { s.messages = m }
}

// NewSlack returns a Slack notifier for cfg; client is built from
// cfg.HTTPConfig.
func NewSlack(cfg *config.SlackConfig, tmpl *template.Template, client *http.Client, opts ...SlackOption) *Slack {
	if client == nil {
		client = http.DefaultClient
	}
	s := &Slack{cfg: cfg, tmpl: tmpl, client: client, slots: make(chan struct{}, maxInFlight)}
	for _, o := range opts {
		o(s)
	}
	if !cfg.UpdateMessage && !cfg.PostUpdatesToThread {
		s.messages = nil
	} else if s.messages == nil {
		s.messages = NewSlackMessages(DefaultSlackMessages)
	}
	return s
}

// maxTitleRunes is Slack's limit on an attachment's title, as Alertmanager
// applies it.
const maxTitleRunes = 1024

// slackMessage is a rendered notification.
type slackMessage struct {
	channel, username, iconEmoji, iconURL, text string
	linkNames                                   bool
	attachment                                  slack.Attachment
}

// Notify implements dispatch.Notifier. A template that fails is an error
// that is not retried; the URL and the token never appear in an error.
func (s *Slack) Notify(ctx context.Context, b *dispatch.Batch) (bool, error) {
	m, err := s.render(Data(s.tmpl, b, b.Alerts))
	if err != nil {
		return false, s.redact(err)
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		return true, fmt.Errorf("waiting for a free connection: %w", ctx.Err())
	}
	if s.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.cfg.Timeout,
			fmt.Errorf("slack timeout of %s reached", s.cfg.Timeout))
		defer cancel()
	}
	ex := &exchange{base: s.client.Transport, userAgent: s.userAgent, linkNames: m.linkNames}
	client := *s.client
	client.Transport = ex
	var retry bool
	if s.cfg.BotToken != "" || s.cfg.BotTokenFile != "" {
		retry, err = s.postBot(ctx, &client, ex, b.GroupKey, m)
	} else {
		retry, err = s.postWebhook(ctx, &client, ex, m)
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// The transport reports the cause (our timeout); keep the
		// context error too, which classifies the failure.
		err = fmt.Errorf("%w: %w", err, ctx.Err())
	}
	return retry, s.redact(err)
}

// render expands the templates of cfg for one notification.
func (s *Slack) render(data *template.Data) (*slackMessage, error) {
	c := s.cfg
	r := &renderer{tmpl: s.tmpl, data: data}
	att := slack.Attachment{
		Title:      truncateRunes(r.text("title", c.Title), maxTitleRunes),
		TitleLink:  r.text("title_link", c.TitleLink),
		Pretext:    r.text("pretext", c.Pretext),
		Text:       r.text("text", c.Text),
		Fallback:   r.text("fallback", c.Fallback),
		CallbackID: r.text("callback_id", c.CallbackID),
		ImageURL:   r.text("image_url", c.ImageURL),
		ThumbURL:   r.text("thumb_url", c.ThumbURL),
		Footer:     r.text("footer", c.Footer),
		Color:      r.text("color", c.Color),
		MarkdownIn: c.MrkdwnIn,
	}
	if len(att.MarkdownIn) == 0 {
		att.MarkdownIn = []string{"fallback", "pretext", "text"}
	}
	for i, f := range c.Fields {
		short := c.ShortFields
		if f.Short != nil {
			short = *f.Short
		}
		att.Fields = append(att.Fields, slack.AttachmentField{
			Title: r.text(fmt.Sprintf("fields[%d].title", i), f.Title),
			Value: r.text(fmt.Sprintf("fields[%d].value", i), f.Value),
			Short: short,
		})
	}
	for i, a := range c.Actions {
		at := func(name, text string) string { return r.text(fmt.Sprintf("actions[%d].%s", i, name), text) }
		action := slack.AttachmentAction{
			Type: slack.ActionType(at("type", a.Type)), Text: at("text", a.Text), URL: at("url", a.URL),
			Style: at("style", a.Style), Name: at("name", a.Name), Value: at("value", a.Value),
		}
		if a.Confirm != nil {
			action.Confirm = &slack.ConfirmationField{
				Title: at("confirm.title", a.Confirm.Title), Text: at("confirm.text", a.Confirm.Text),
				OkText: at("confirm.ok_text", a.Confirm.OkText), DismissText: at("confirm.dismiss_text", a.Confirm.DismissText),
			}
		}
		att.Actions = append(att.Actions, action)
	}
	m := &slackMessage{
		channel:   r.text("channel", c.Channel),
		username:  r.text("username", c.Username),
		iconEmoji: r.text("icon_emoji", c.IconEmoji),
		iconURL:   r.text("icon_url", c.IconURL),
		text:      r.text("message_text", c.MessageText),
		linkNames: c.LinkNames, attachment: att,
	}
	return m, r.err
}

// renderer expands templates until the first one fails, and remembers
// which field that was.
type renderer struct {
	tmpl *template.Template
	data *template.Data
	err  error
}

func (r *renderer) text(field, text string) string {
	if r.err != nil {
		return ""
	}
	out, err := r.tmpl.ExecuteTextString(text, r.data)
	if err != nil {
		r.err = fmt.Errorf("slack_configs: template of %s: %w", field, err)
	}
	return out
}

// truncateRunes cuts s to n runes, the last one an ellipsis, as
// Alertmanager's notify.TruncateInRunes does.
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// postWebhook posts m to an incoming webhook and checks Slack's answer as
// Alertmanager does: "ok" as text, or {"ok": true} as JSON.
func (s *Slack) postWebhook(ctx context.Context, client *http.Client, ex *exchange, m *slackMessage) (bool, error) {
	err := slack.PostWebhookCustomHTTPContext(ctx, s.cfg.APIURL, client, &slack.WebhookMessage{
		Channel: m.channel, Username: m.username, IconEmoji: m.iconEmoji, IconURL: m.iconURL,
		Text: m.text, Attachments: []slack.Attachment{m.attachment},
	})
	if err != nil {
		return classify(m.channel, ex, err)
	}
	if !strings.HasPrefix(ex.contentType, "application/json") {
		if !bytes.Equal(ex.body, []byte("ok")) {
			return false, &dispatch.ReasonError{Why: dispatch.ReasonClientError,
				Err: fmt.Errorf("channel %q: received an error response from Slack: %s", m.channel, clip(ex.body))}
		}
		return false, nil
	}
	var answer slack.SlackResponse
	if err := json.Unmarshal(ex.body, &answer); err != nil {
		return true, fmt.Errorf("channel %q: could not decode Slack's answer %q: %w", m.channel, clip(ex.body), err)
	}
	if answer.Ok {
		return false, nil
	}
	return classify(m.channel, ex, slack.SlackErrorResponse{Err: answer.Error})
}

// postBot sends m through the Web API. With update_message or
// post_updates_to_thread, the first message of the group is remembered and
// later notifications edit it, or reply in its thread.
func (s *Slack) postBot(ctx context.Context, client *http.Client, ex *exchange, groupKey string, m *slackMessage) (bool, error) {
	token := s.cfg.BotToken
	if s.cfg.BotTokenFile != "" {
		b, err := os.ReadFile(s.cfg.BotTokenFile)
		if err != nil {
			return true, fmt.Errorf("read the bot token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	// slack-go sends the token in the form; Slack prefers the header.
	ex.bearer = token
	api := slack.New(token, slack.OptionHTTPClient(client),
		slack.OptionAPIURL(strings.TrimSuffix(s.cfg.APIURL, "chat.postMessage")))
	opts := m.options()
	ref, found := s.messages.get(groupKey)
	if found && s.cfg.UpdateMessage {
		_, _, _, err := api.UpdateMessageContext(ctx, ref.channel, ref.ts, opts...)
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && se.Err == "message_not_found" {
			// The message was deleted: start over with a new one.
			s.messages.forget(groupKey)
			found = false
		} else if err != nil {
			return classify(ref.channel, ex, err)
		}
	}
	if found && s.cfg.PostUpdatesToThread {
		opts = append(opts, slack.MsgOptionTS(ref.ts))
		if _, _, err := api.PostMessageContext(ctx, ref.channel, opts...); err != nil {
			return classify(ref.channel, ex, err)
		}
	}
	if found {
		return false, nil
	}
	channel, ts, err := api.PostMessageContext(ctx, m.channel, opts...)
	if err != nil {
		return classify(m.channel, ex, err)
	}
	if channel != "" && ts != "" {
		s.messages.put(groupKey, channel, ts)
	}
	return false, nil
}

// options are m as chat.postMessage parameters.
func (m *slackMessage) options() []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionAttachments(m.attachment)}
	for _, o := range []struct {
		value string
		opt   func(string) slack.MsgOption
	}{
		{m.username, slack.MsgOptionUsername},
		{m.iconEmoji, slack.MsgOptionIconEmoji},
		{m.iconURL, slack.MsgOptionIconURL},
		{m.text, func(t string) slack.MsgOption { return slack.MsgOptionText(t, false) }},
	} {
		if o.value != "" {
			opts = append(opts, o.opt(o.value))
		}
	}
	if m.linkNames {
		opts = append(opts, slack.MsgOptionLinkNames(true))
	}
	return opts
}

// transientSlackErrors are the error codes of an {"ok": false} answer
// that a later attempt may not get: rate limiting and Slack's own
// failures. Any other code (channel_not_found, invalid_auth, ...) is final.
var transientSlackErrors = map[string]bool{
	"ratelimited": true, "rate_limited": true, "service_unavailable": true,
	"internal_error": true, "fatal_error": true, "request_timeout": true,
}

// classify turns a failed request into (retry, error): 5xx, 429 and
// transport errors may be retried, other statuses not; an {"ok": false}
// answer is final unless transientSlackErrors has its code.
func classify(channel string, ex *exchange, err error) (bool, error) {
	var se slack.SlackErrorResponse
	var rl *slack.RateLimitedError
	switch {
	case ex.status != 0 && ex.status != http.StatusOK:
		msg := fmt.Sprintf("unexpected status code %d", ex.status)
		if errors.As(err, &rl) {
			msg += fmt.Sprintf(" (retry after %s)", rl.RetryAfter)
		}
		if body := clip(ex.body); body != "" {
			msg += ": " + body
		}
		retry := ex.status/100 == 5 || ex.status == http.StatusTooManyRequests
		return retry, &dispatch.ReasonError{Err: fmt.Errorf("channel %q: %s", channel, msg), Why: dispatch.StatusReason(ex.status)}
	case errors.As(err, &se):
		why := dispatch.ReasonClientError
		if se.Err != "ratelimited" && se.Err != "rate_limited" && transientSlackErrors[se.Err] {
			why = dispatch.ReasonServerError
		}
		return transientSlackErrors[se.Err], &dispatch.ReasonError{
			Err: fmt.Errorf("channel %q: error response from Slack: %s", channel, se.Err), Why: why}
	}
	// Transport errors, and answers that could not be read.
	return true, fmt.Errorf("channel %q: %w", channel, redactURLError(err))
}

// clip returns the start of an answer's body for an error message.
func clip(body []byte) string {
	const limit = 512
	b := bytes.TrimSpace(body)
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}

// redact removes the webhook URL (or its secret parts) and the token from
// err's message, keeping its failure reason. Only a context error stays
// reachable through Unwrap, so that errors.As cannot dig the original,
// URL-bearing error out either.
func (s *Slack) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, v := range s.secrets() {
		if len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, "<secret>")
		}
	}
	out := &redactedError{msg: msg}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		out.cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		out.cause = context.Canceled
	}
	if re := (*dispatch.ReasonError)(nil); errors.As(err, &re) {
		return &dispatch.ReasonError{Err: out, Why: re.Why}
	}
	return out
}

// secrets are the strings no error may show.
func (s *Slack) secrets() []string {
	out := []string{s.cfg.APIURL, s.cfg.BotToken}
	if u, err := url.Parse(s.cfg.APIURL); err == nil {
		out = append(out, u.RawQuery, u.Fragment)
		if len(u.Path) > 1 && u.Path != "/api/chat.postMessage" {
			out = append(out, u.Path)
		}
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
	}
	if s.cfg.BotTokenFile != "" {
		if b, err := os.ReadFile(s.cfg.BotTokenFile); err == nil {
			out = append(out, strings.TrimSpace(string(b)))
		}
	}
	return out
}

// redactedError is an error message with the secrets taken out; it
// unwraps to the context error that caused it, if any.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// maxAnswer bounds the part of Slack's answer that is read.
const maxAnswer = 1 << 20

// exchange is the transport of one notification's requests: it sets the
// User-Agent, adds link_names (which slack-go's WebhookMessage lacks) to
// a webhook's JSON, and keeps the status, content type and body of the
// last answer, which slack-go's errors do not carry.
type exchange struct {
	base      http.RoundTripper
	userAgent string
	linkNames bool
	// bearer is the bot token, sent as the Authorization header unless the
	// client's own authorization set one.
	bearer string

	status      int
	contentType string
	body        []byte
}

// RoundTrip implements http.RoundTripper.
func (e *exchange) RoundTrip(req *http.Request) (*http.Response, error) {
	e.status, e.contentType, e.body = 0, "", nil
	req = req.Clone(req.Context())
	if e.userAgent != "" {
		req.Header.Set("User-Agent", e.userAgent)
	}
	if e.bearer != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+e.bearer)
	}
	if e.linkNames && req.Body != nil && req.Header.Get("Content-Type") == "application/json" {
		if err := addLinkNames(req); err != nil {
			return nil, err
		}
	}
	base := e.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read Slack's answer: %w", err)
	}
	e.status, e.contentType, e.body = resp.StatusCode, resp.Header.Get("Content-Type"), body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// addLinkNames sets "link_names": true in the JSON body of req.
func addLinkNames(req *http.Request) error {
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return err
	}
	fields["link_names"] = json.RawMessage("true")
	if raw, err = json.Marshal(fields); err != nil {
		return err
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(raw)), int64(len(raw))
	return nil
}

// DefaultSlackMessages is how many groups' first messages a SlackMessages
// remembers by default.
const DefaultSlackMessages = 10000

// SlackMessages remembers the (channel, ts) of each group's first Slack
// message, for update_message and post_updates_to_thread. It lives in
// memory only: after a restart, a group's next notification posts a new
// message (Alertmanager keeps them in its notification log). Past its
// limit it forgets the group used least recently, whose next notification
// then posts a new message too. It is safe for concurrent use; nil
// remembers nothing. Two notifications of a new group sent at the same
// time would both post (the dispatcher flushes a group one at a time).
type SlackMessages struct {
	mu    sync.Mutex
	limit int
	order *list.List // of *slackRef, most recently used first
	refs  map[string]*list.Element
}

type slackRef struct{ key, channel, ts string }

// NewSlackMessages returns an empty SlackMessages that holds at most limit
// groups (DefaultSlackMessages if limit <= 0).
func NewSlackMessages(limit int) *SlackMessages {
	if limit <= 0 {
		limit = DefaultSlackMessages
	}
	return &SlackMessages{limit: limit, order: list.New(), refs: map[string]*list.Element{}}
}

// Len returns how many groups' messages are remembered.
func (m *SlackMessages) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

func (m *SlackMessages) get(key string) (slackRef, bool) {
	if m == nil {
		return slackRef{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.refs[key]
	if !ok {
		return slackRef{}, false
	}
	m.order.MoveToFront(e)
	return *e.Value.(*slackRef), true
}

func (m *SlackMessages) put(key, channel, ts string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.refs[key]; ok {
		*e.Value.(*slackRef) = slackRef{key, channel, ts}
		m.order.MoveToFront(e)
		return
	}
	m.refs[key] = m.order.PushFront(&slackRef{key, channel, ts})
	for m.order.Len() > m.limit {
		oldest := m.order.Back()
		m.order.Remove(oldest)
		delete(m.refs, oldest.Value.(*slackRef).key)
	}
}

func (m *SlackMessages) forget(key string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.refs[key]; ok {
		m.order.Remove(e)
		delete(m.refs, key)
	}
}
