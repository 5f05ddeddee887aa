package notifiers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/slack-go/slack/slacktest"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

// The secrets of the tests: none may appear in an error.
const (
	hookPath = "/services/T000/B000/s3cr3tH00k"
	botToken = "xoxb-s3cr3t-t0ken"
)

// slackConfig decodes one slack_configs entry written in YAML, so that
// the tests get Alertmanager's defaults as the config file would.
func slackConfig(t *testing.T, entry string, args ...any) *config.SlackConfig {
	t.Helper()
	var nodes []yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("- "+strings.ReplaceAll(fmt.Sprintf(entry, args...), "\n", "\n  ")), &nodes))
	cfgs, errs := config.DecodeSlackConfigs(nodes, nil, t.TempDir())
	require.Empty(t, errs)
	require.Len(t, cfgs, 1)
	return cfgs[0]
}

// slackBatch is a group of two disks filling up on team db's hosts, both
// firing, or both resolved.
func slackBatch(resolved bool) *dispatch.Batch {
	end := t0.Add(time.Hour)
	if resolved {
		end = t0.Add(-time.Minute)
	}
	return &dispatch.Batch{
		GroupKey: `{}/{team="db"}:{alertname="DiskFull"}`, GroupLabels: model.LabelSet{"alertname": "DiskFull"},
		Receiver: "db-team", Now: t0, Reason: dispatch.ReasonFirst,
		Alerts: []*dispatch.Alert{
			{Labels: model.LabelSet{"alertname": "DiskFull", "instance": "a", "team": "db"},
				Annotations: model.LabelSet{"summary": "a is full"}, StartsAt: t0.Add(-time.Hour), EndsAt: end},
			{Labels: model.LabelSet{"alertname": "DiskFull", "instance": "b", "team": "db"},
				Annotations: model.LabelSet{"summary": "b is full"}, StartsAt: t0.Add(-time.Hour), EndsAt: end},
		},
	}
}

// hook is an incoming webhook: it records the JSON posted and answers
// with status and body.
type hook struct {
	*httptest.Server
	mu       sync.Mutex
	got      []map[string]any
	ua       []string
	status   int
	ctype    string
	response string
}

func newHook(t *testing.T) *hook {
	h := &hook{status: http.StatusOK, ctype: "text/plain", response: "ok"}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if r.URL.Path == hookPath && json.NewDecoder(r.Body).Decode(&m) == nil {
			h.mu.Lock()
			h.got, h.ua = append(h.got, m), append(h.ua, r.Header.Get("User-Agent"))
			h.mu.Unlock()
		}
		w.Header().Set("Content-Type", h.ctype)
		w.WriteHeader(h.status)
		_, _ = io.WriteString(w, h.response)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) url() string { return h.URL + hookPath }

func (h *hook) attachment(t *testing.T, i int) map[string]any {
	t.Helper()
	atts := h.got[i]["attachments"].([]any)
	require.Len(t, atts, 1, "one attachment, as Alertmanager sends")
	return atts[0].(map[string]any)
}

// noSecret checks that an error does not show the webhook's secret path
// nor the bot token.
func noSecret(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	for _, s := range []string{hookPath, "s3cr3t", botToken} {
		require.NotContains(t, err.Error(), s)
		require.NotContains(t, fmt.Sprintf("%+v", err), s)
	}
}

// TestSlackDefaultTemplates: with Alertmanager's defaults, the message is
// the one Alertmanager sends for the same group, character for character.
func TestSlackDefaultTemplates(t *testing.T) {
	h := newHook(t)
	s := NewSlack(slackConfig(t, "api_url: %s", h.url()), testTemplate(t), h.Client(), WithSlackUserAgent("alerter/test"))
	for _, resolved := range []bool{false, true} {
		retry, err := s.Notify(t.Context(), slackBatch(resolved))
		require.NoError(t, err)
		require.False(t, retry)
	}
	require.Len(t, h.got, 2)
	require.Equal(t, "alerter/test", h.ua[0])
	msg := h.got[0]
	require.Equal(t, "Alertmanager", msg["username"])
	for _, k := range []string{"channel", "icon_emoji", "icon_url", "text", "link_names"} {
		require.NotContains(t, msg, k, "empty in Alertmanager's defaults")
	}
	att := h.attachment(t, 0)
	require.Equal(t, "[FIRING:2] DiskFull (db)", att["title"])
	require.Equal(t, "http://alerter.example/#/alerts?receiver=db-team", att["title_link"])
	require.Equal(t, "[FIRING:2] DiskFull (db) | http://alerter.example/#/alerts?receiver=db-team", att["fallback"])
	require.Equal(t, "danger", att["color"])
	require.Equal(t, []any{"fallback", "pretext", "text"}, att["mrkdwn_in"])
	for _, k := range []string{"text", "pretext", "footer", "callback_id", "fields", "actions"} {
		require.NotContains(t, att, k, "the default templates render nothing")
	}
	att = h.attachment(t, 1)
	require.Equal(t, "[RESOLVED] DiskFull (db)", att["title"])
	require.Equal(t, "[RESOLVED] DiskFull (db) | http://alerter.example/#/alerts?receiver=db-team", att["fallback"])
	require.Equal(t, "good", att["color"])
}

// TestSlackWebhookMessage: every field of the entry lands where
// Alertmanager puts it.
func TestSlackWebhookMessage(t *testing.T) {
	h := newHook(t)
	cfg := slackConfig(t, `api_url: %s
channel: '#db-{{ .CommonLabels.team }}'
username: alerter
icon_emoji: ':fire:'
icon_url: http://icons/fire.png
link_names: true
message_text: 'outside'
pretext: 'pre {{ .Status }}'
text: "{{ range .Alerts }}*{{ .Labels.instance }}*: {{ .Annotations.summary }}\n{{ end }}"
footer: foot
callback_id: cb
image_url: http://img
thumb_url: http://thumb
color: '#ff0000'
short_fields: true
mrkdwn_in: [text, fields]
fields:
  - {title: Team, value: '{{ .CommonLabels.team }}'}
  - {title: Count, value: '{{ len .Alerts }}', short: false}
actions:
  - {type: button, text: 'Runbook {{ .GroupLabels.alertname }}', url: 'http://runbook/{{ .GroupLabels.alertname }}', style: primary}
  - type: button
    text: Ack
    name: ack
    value: '{{ .CommonLabels.team }}'
    confirm: {text: 'Sure?', title: Ack, ok_text: 'Yes', dismiss_text: 'No'}
`, h.url())
	_, err := NewSlack(cfg, testTemplate(t), h.Client()).Notify(t.Context(), slackBatch(false))
	require.NoError(t, err)
	msg := h.got[0]
	require.Equal(t, "#db-db", msg["channel"])
	require.Equal(t, "alerter", msg["username"])
	require.Equal(t, ":fire:", msg["icon_emoji"])
	require.Equal(t, "http://icons/fire.png", msg["icon_url"])
	require.Equal(t, true, msg["link_names"])
	require.Equal(t, "outside", msg["text"])
	att := h.attachment(t, 0)
	require.Equal(t, "*a*: a is full\n*b*: b is full\n", att["text"])
	require.Equal(t, "pre firing", att["pretext"])
	require.Equal(t, "foot", att["footer"])
	require.Equal(t, "cb", att["callback_id"])
	require.Equal(t, "http://img", att["image_url"])
	require.Equal(t, "http://thumb", att["thumb_url"])
	require.Equal(t, "#ff0000", att["color"])
	require.Equal(t, []any{"text", "fields"}, att["mrkdwn_in"])
	require.Equal(t, []any{
		map[string]any{"title": "Team", "value": "db", "short": true},
		map[string]any{"title": "Count", "value": "2", "short": false},
	}, att["fields"])
	actions := att["actions"].([]any)
	require.Len(t, actions, 2)
	require.Equal(t, map[string]any{"type": "button", "text": "Runbook DiskFull", "url": "http://runbook/DiskFull",
		"style": "primary", "name": ""}, actions[0])
	require.Equal(t, map[string]any{"type": "button", "text": "Ack", "name": "ack", "value": "db",
		"confirm": map[string]any{"text": "Sure?", "title": "Ack", "ok_text": "Yes", "dismiss_text": "No"}}, actions[1])
}

func TestSlackTitleTruncated(t *testing.T) {
	h := newHook(t)
	cfg := slackConfig(t, "api_url: %s\ntitle: '%s'", h.url(), strings.Repeat("é", 1100))
	_, err := NewSlack(cfg, testTemplate(t), h.Client()).Notify(t.Context(), slackBatch(false))
	require.NoError(t, err)
	title := []rune(h.attachment(t, 0)["title"].(string))
	require.Len(t, title, 1024)
	require.Equal(t, '…', title[1023])
}

// TestSlackTemplateError: a template that fails is not retried, and the
// error names the field.
func TestSlackTemplateError(t *testing.T) {
	h := newHook(t)
	cfg := slackConfig(t, "api_url: %s\nfields: [{title: x, value: '{{ template \"nope\" . }}'}]", h.url())
	retry, err := NewSlack(cfg, testTemplate(t), h.Client()).Notify(t.Context(), slackBatch(false))
	require.False(t, retry)
	require.ErrorContains(t, err, "fields[0].value")
	noSecret(t, err)
	require.Empty(t, h.got, "nothing is sent")
}

// TestSlackWebhookAnswers: status codes and Slack's answers decide
// whether to retry; the error says why, and never shows the URL.
func TestSlackWebhookAnswers(t *testing.T) {
	for _, tc := range []struct {
		status        int
		ctype, answer string
		retry, ok     bool
		reason, want  string
	}{
		{200, "text/plain", "ok", false, true, "", ""},
		{200, "application/json", `{"ok":true}`, false, true, "", ""},
		{200, "text/html", "<html>login</html>", false, false, dispatch.ReasonClientError, "received an error response from Slack: <html>login</html>"},
		{200, "application/json", `{"ok":false,"error":"channel_not_found"}`, false, false, dispatch.ReasonClientError, "channel_not_found"},
		{200, "application/json", `{"ok":false,"error":"ratelimited"}`, true, false, dispatch.ReasonClientError, "ratelimited"},
		{200, "application/json", `not json`, true, false, dispatch.ReasonOther, "could not decode"},
		{400, "text/plain", "invalid_payload", false, false, dispatch.ReasonClientError, "unexpected status code 400: invalid_payload"},
		{403, "text/plain", "invalid_token", false, false, dispatch.ReasonClientError, "403: invalid_token"},
		{404, "text/plain", "channel_not_found", false, false, dispatch.ReasonClientError, "404: channel_not_found"},
		{410, "text/plain", "channel_is_archived", false, false, dispatch.ReasonClientError, "channel_is_archived"},
		{429, "text/plain", "rate limited", true, false, dispatch.ReasonClientError, "429"},
		{500, "text/plain", "oops", true, false, dispatch.ReasonServerError, "500: oops"},
		{503, "text/html", "", true, false, dispatch.ReasonServerError, "503"},
	} {
		name := fmt.Sprintf("%d %s", tc.status, tc.answer)
		h := newHook(t)
		h.status, h.ctype, h.response = tc.status, tc.ctype, tc.answer
		cfg := slackConfig(t, "api_url: %s\nchannel: '#db'", h.url())
		retry, err := NewSlack(cfg, testTemplate(t), h.Client()).Notify(t.Context(), slackBatch(false))
		require.Equal(t, tc.retry, retry, name)
		if tc.ok {
			require.NoError(t, err, name)
			continue
		}
		require.ErrorContains(t, err, tc.want, name)
		require.ErrorContains(t, err, `channel "#db"`, name)
		require.Equal(t, tc.reason, dispatch.FailureReason(err), name)
		noSecret(t, err)
	}
}

// TestSlackTransportErrorHidesURL: a connection failure is retried and its
// error does not show the webhook's path.
func TestSlackTransportErrorHidesURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u, _ := url.Parse(srv.URL)
	srv.Close()
	cfg := slackConfig(t, "api_url: http://user:s3cr3tpw@%s%s", u.Host, hookPath)
	retry, err := NewSlack(cfg, testTemplate(t), http.DefaultClient).Notify(t.Context(), slackBatch(false))
	require.True(t, retry)
	noSecret(t, err)
	require.NotContains(t, err.Error(), "s3cr3tpw")
}

// TestSlackTimeout: a hanging Slack is cut off by the entry's timeout; the
// attempt may be retried.
func TestSlackTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	cfg := slackConfig(t, "api_url: %s%s\ntimeout: 50ms", srv.URL, hookPath)
	retry, err := NewSlack(cfg, testTemplate(t), srv.Client()).Notify(t.Context(), slackBatch(false))
	require.True(t, retry)
	require.ErrorContains(t, err, "slack timeout of 50ms reached")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, dispatch.ReasonDeadlineExceeded, dispatch.FailureReason(err))
	noSecret(t, err)
}

// slackAPI is slacktest's server with chat.postMessage and chat.update
// recorded, answering with a fixed channel ID and ts, or with fail.
type slackAPI struct {
	*slacktest.Server
	mu    sync.Mutex
	calls []apiCall
	fail  string // an error code for {"ok": false}, or "500"
}

type apiCall struct {
	method string
	auth   string
	form   url.Values
}

func newSlackAPI(t *testing.T) *slackAPI {
	api := &slackAPI{}
	handler := func(method string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseForm(); err != nil {
				t.Error(err)
			}
			api.mu.Lock()
			api.calls = append(api.calls, apiCall{method, r.Header.Get("Authorization"), r.PostForm})
			fail := api.fail
			n := len(api.calls)
			api.mu.Unlock()
			switch fail {
			case "":
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C0DB",
					"ts": fmt.Sprintf("1700000000.00%04d", n)})
			case "500":
				http.Error(w, "upstream failed", http.StatusInternalServerError)
			default:
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": fail})
			}
		}
	}
	api.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", handler("chat.postMessage"))
		c.Handle("/chat.update", handler("chat.update"))
	})
	api.Start()
	t.Cleanup(api.Stop)
	return api
}

func (a *slackAPI) title(t *testing.T, i int) string {
	t.Helper()
	var atts []map[string]any
	require.NoError(t, json.Unmarshal([]byte(a.calls[i].form.Get("attachments")), &atts))
	require.Len(t, atts, 1)
	return atts[0]["title"].(string)
}

// TestSlackBotUpdateMessage: with a bot token and update_message, a
// group's first notification posts a message and later ones edit it in
// place (same channel and ts, new texts).
func TestSlackBotUpdateMessage(t *testing.T) {
	api := newSlackAPI(t)
	cfg := slackConfig(t, `api_url: %schat.postMessage
channel: '#db'
update_message: true
http_config: {authorization: {credentials: %s}}`, api.GetAPIURL(), botToken)
	s := NewSlack(cfg, testTemplate(t), http.DefaultClient)
	for _, resolved := range []bool{false, true} {
		retry, err := s.Notify(t.Context(), slackBatch(resolved))
		require.NoError(t, err)
		require.False(t, retry)
	}
	require.Len(t, api.calls, 2)
	post, update := api.calls[0], api.calls[1]
	require.Equal(t, "chat.postMessage", post.method)
	require.Equal(t, "Bearer "+botToken, post.auth)
	require.Equal(t, "#db", post.form.Get("channel"))
	require.Equal(t, "Alertmanager", post.form.Get("username"))
	require.Equal(t, "[FIRING:2] DiskFull (db)", api.title(t, 0))
	require.Equal(t, "chat.update", update.method)
	require.Equal(t, "C0DB", update.form.Get("channel"), "the channel ID Slack answered")
	require.Equal(t, "1700000000.000001", update.form.Get("ts"), "the first message's ts")
	require.Equal(t, "[RESOLVED] DiskFull (db)", api.title(t, 1))
	require.Equal(t, 1, s.messages.Len())

	// Another group posts its own message.
	other := slackBatch(false)
	other.GroupKey = "other"
	_, err := s.Notify(t.Context(), other)
	require.NoError(t, err)
	require.Equal(t, "chat.postMessage", api.calls[2].method)

	// A deleted message: post a new one, and update that one from then on.
	api.fail = "message_not_found"
	_, err = s.Notify(t.Context(), slackBatch(false))
	require.Error(t, err, "the new post fails too, with fail set")
	api.fail = ""
	_, err = s.Notify(t.Context(), slackBatch(false))
	require.NoError(t, err)
	last := api.calls[len(api.calls)-1]
	require.Equal(t, "chat.postMessage", last.method)
}

// TestSlackBotAppToken: app_token and app_url (Alertmanager 0.35) post
// with the token; without update_message each notification is a new
// message.
func TestSlackBotAppToken(t *testing.T) {
	api := newSlackAPI(t)
	cfg := slackConfig(t, "app_token: %s\napp_url: %schat.postMessage\nchannel: '#db'", botToken, api.GetAPIURL())
	s := NewSlack(cfg, testTemplate(t), http.DefaultClient)
	for range 2 {
		_, err := s.Notify(t.Context(), slackBatch(false))
		require.NoError(t, err)
	}
	require.Len(t, api.calls, 2)
	for _, c := range api.calls {
		require.Equal(t, "chat.postMessage", c.method)
		require.Equal(t, "Bearer "+botToken, c.auth)
	}
	require.Nil(t, s.messages)
}

// TestSlackBotTokenFile: the token file is read for each message, so a
// rotated token is used without a reload.
func TestSlackBotTokenFile(t *testing.T) {
	api := newSlackAPI(t)
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte(botToken+"\n"), 0o600))
	cfg := slackConfig(t, "app_token_file: %s\napp_url: %schat.postMessage\nchannel: '#db'", file, api.GetAPIURL())
	s := NewSlack(cfg, testTemplate(t), http.DefaultClient)
	_, err := s.Notify(t.Context(), slackBatch(false))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, []byte("xoxb-rotated"), 0o600))
	_, err = s.Notify(t.Context(), slackBatch(false))
	require.NoError(t, err)
	require.Equal(t, "Bearer "+botToken, api.calls[0].auth)
	require.Equal(t, "Bearer xoxb-rotated", api.calls[1].auth)

	require.NoError(t, os.Remove(file))
	retry, err := s.Notify(t.Context(), slackBatch(false))
	require.True(t, retry)
	require.ErrorContains(t, err, "read the bot token")
}

// TestSlackBotThread: post_updates_to_thread replies in the first
// message's thread.
func TestSlackBotThread(t *testing.T) {
	api := newSlackAPI(t)
	cfg := slackConfig(t, "app_token: %s\napp_url: %schat.postMessage\nchannel: '#db'\npost_updates_to_thread: true",
		botToken, api.GetAPIURL())
	s := NewSlack(cfg, testTemplate(t), http.DefaultClient)
	for _, resolved := range []bool{false, true} {
		_, err := s.Notify(t.Context(), slackBatch(resolved))
		require.NoError(t, err)
	}
	require.Len(t, api.calls, 2)
	require.Empty(t, api.calls[0].form.Get("thread_ts"))
	reply := api.calls[1]
	require.Equal(t, "chat.postMessage", reply.method)
	require.Equal(t, "C0DB", reply.form.Get("channel"))
	require.Equal(t, "1700000000.000001", reply.form.Get("thread_ts"))
}

// TestSlackBotAnswers: {"ok": false} is final except when rate limited;
// a 5xx is retried; the token never shows.
func TestSlackBotAnswers(t *testing.T) {
	for _, tc := range []struct {
		fail   string
		retry  bool
		reason string
	}{
		{"channel_not_found", false, dispatch.ReasonClientError},
		{"invalid_auth", false, dispatch.ReasonClientError},
		{"ratelimited", true, dispatch.ReasonClientError},
		{"internal_error", true, dispatch.ReasonServerError},
		{"500", true, dispatch.ReasonServerError},
	} {
		api := newSlackAPI(t)
		api.fail = tc.fail
		cfg := slackConfig(t, "app_token: %s\napp_url: %schat.postMessage\nchannel: '#db'", botToken, api.GetAPIURL())
		retry, err := NewSlack(cfg, testTemplate(t), http.DefaultClient).Notify(t.Context(), slackBatch(false))
		require.Equal(t, tc.retry, retry, tc.fail)
		require.ErrorContains(t, err, tc.fail, tc.fail)
		require.ErrorContains(t, err, `channel "#db"`)
		require.Equal(t, tc.reason, dispatch.FailureReason(err), tc.fail)
		noSecret(t, err)
	}
}

// TestSlackBotHTTPStatus: the Web API behind a proxy that answers 400 or
// 429: not retried, retried.
func TestSlackBotHTTPStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		retry  bool
	}{{400, false}, {401, false}, {429, true}, {502, true}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			http.Error(w, "no "+botToken, tc.status)
		}))
		cfg := slackConfig(t, "app_token: %s\napp_url: %s/api/chat.postMessage", botToken, srv.URL)
		retry, err := NewSlack(cfg, testTemplate(t), srv.Client()).Notify(t.Context(), slackBatch(false))
		srv.Close()
		require.Equal(t, tc.retry, retry, tc.status)
		require.ErrorContains(t, err, fmt.Sprintf("unexpected status code %d", tc.status))
		noSecret(t, err)
	}
}

func TestSlackMessagesBound(t *testing.T) {
	m := NewSlackMessages(2)
	m.put("a", "C", "1")
	m.put("b", "C", "2")
	_, ok := m.get("a") // a is now used more recently than b
	require.True(t, ok)
	m.put("c", "C", "3")
	require.Equal(t, 2, m.Len())
	_, ok = m.get("b")
	require.False(t, ok, "the least recently used group is forgotten")
	ref, ok := m.get("a")
	require.True(t, ok)
	require.Equal(t, "1", ref.ts)
	m.forget("a")
	require.Equal(t, 1, m.Len())
}

// TestSlackConfigHidesSecrets: printing the config does not print the
// URL or the token.
func TestSlackConfigHidesSecrets(t *testing.T) {
	cfg := slackConfig(t, "api_url: https://slack.example/s3cr3t/chat.postMessage\nhttp_config: {authorization: {credentials: %s}}", botToken)
	require.NotEmpty(t, cfg.BotToken)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		require.NotContains(t, fmt.Sprintf(f, cfg), "s3cr3t", f)
		require.NotContains(t, fmt.Sprintf(f, *cfg), "s3cr3t", f)
	}
}
