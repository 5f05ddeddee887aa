package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// decodeSlack decodes the slack_configs of a document that has them and,
// optionally, Alertmanager globals, with testdata as the config's folder.
func decodeSlack(t *testing.T, doc string) ([]*SlackConfig, []error) {
	t.Helper()
	var d struct {
		Global map[string]yaml.Node `yaml:"global"`
		Slack  []yaml.Node          `yaml:"slack_configs"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &d))
	return DecodeSlackConfigs(d.Slack, d.Global, "testdata")
}

// decodeOne decodes a document with one valid entry.
func decodeOne(t *testing.T, doc string) *SlackConfig {
	t.Helper()
	cfgs, errs := decodeSlack(t, doc)
	require.Empty(t, errs)
	require.Len(t, cfgs, 1)
	return cfgs[0]
}

// lined renders errors as "LINE: message", as Parse shows them after the
// file name.
func lined(errs []error) []string {
	out := make([]string, len(errs))
	for i, err := range errs {
		var pe *posError
		if errors.As(err, &pe) {
			out[i] = fmt.Sprintf("%d: %v", pe.line, err)
		} else {
			out[i] = "?: " + err.Error()
		}
	}
	return out
}

func TestSlackDefaults(t *testing.T) {
	c := decodeOne(t, `
slack_configs:
  - api_url: https://hooks.slack.com/services/T/B/x
`)
	want := defaultSlackConfig()
	want.APIURL = "https://hooks.slack.com/services/T/B/x"
	want.AppURL = "https://slack.com/api/chat.postMessage"
	want.HTTPConfig = c.HTTPConfig
	want.Line = 3
	require.Equal(t, &want, c)
	require.False(t, c.SendResolved, "Alertmanager's default")
	require.True(t, c.HTTPConfig.FollowRedirects, "Prometheus' HTTP defaults")
	require.Nil(t, c.HTTPConfig.Authorization)
	require.Empty(t, c.BotToken, "an incoming webhook")
	require.Equal(t, `{{ template "slack.default.title" . }}`, c.Title)
	require.Equal(t, `{{ template "slack.default.color" . }}`, c.Color)
	require.Equal(t, `{{ template "slack.default.fallback" . }}`, c.Fallback)
}

func TestSlackAllFields(t *testing.T) {
	c := decodeOne(t, `
slack_configs:
  - api_url: https://hooks.slack.com/services/T/B/x
    send_resolved: true
    channel: '#c'
    username: u
    color: red
    title: t
    title_link: http://t
    pretext: p
    text: x
    message_text: m
    footer: f
    fallback: fb
    callback_id: cb
    icon_emoji: ':e:'
    icon_url: http://i
    image_url: http://im
    thumb_url: http://th
    link_names: true
    short_fields: true
    mrkdwn_in: [text]
    timeout: 10s
    fields:
      - {title: a, value: b}
      - {title: c, value: d, short: false}
    actions:
      - {type: button, text: go, url: 'http://x', name: dropped, value: dropped, confirm: {text: dropped}}
      - {type: button, text: ack, name: ack, value: v, confirm: {text: sure, title: T, ok_text: y, dismiss_text: n}}
`)
	require.True(t, c.SendResolved)
	require.Equal(t, []string{"#c", "u", "red", "t", "http://t", "p", "x", "m", "f", "fb", "cb", ":e:", "http://i", "http://im", "http://th"},
		[]string{c.Channel, c.Username, c.Color, c.Title, c.TitleLink, c.Pretext, c.Text, c.MessageText, c.Footer, c.Fallback,
			c.CallbackID, c.IconEmoji, c.IconURL, c.ImageURL, c.ThumbURL})
	require.True(t, c.LinkNames)
	require.True(t, c.ShortFields)
	require.Equal(t, []string{"text"}, c.MrkdwnIn)
	require.Equal(t, 10*time.Second, c.Timeout)
	no := false
	require.Equal(t, []SlackField{{Title: "a", Value: "b"}, {Title: "c", Value: "d", Short: &no}}, c.Fields)
	require.Equal(t, []SlackAction{
		{Type: "button", Text: "go", URL: "http://x"},
		{Type: "button", Text: "ack", Name: "ack", Value: "v", Confirm: &SlackConfirm{Text: "sure", Title: "T", OkText: "y", DismissText: "n"}},
	}, c.Actions, "a URL action drops name, value and confirm, as in Alertmanager")
}

func TestSlackGlobals(t *testing.T) {
	cfgs, errs := decodeSlack(t, `
global:
  slack_api_url: https://hooks.slack.com/services/T/B/global
  http_config:
    follow_redirects: false
    tls_config: {ca_file: ca.pem}
slack_configs:
  - channel: '#a'
  - api_url: https://hooks.slack.com/services/T/B/own
    http_config: {proxy_url: 'http://proxy:3128'}
  - api_url_file: secrets/url
`)
	require.Empty(t, errs)
	require.Len(t, cfgs, 3)
	require.Equal(t, "https://hooks.slack.com/services/T/B/global", cfgs[0].APIURL)
	require.False(t, cfgs[0].HTTPConfig.FollowRedirects, "global.http_config applies")
	require.Equal(t, filepath.Join("testdata", "ca.pem"), cfgs[0].HTTPConfig.TLSConfig.CAFile)
	require.Equal(t, "https://hooks.slack.com/services/T/B/own", cfgs[1].APIURL)
	require.True(t, cfgs[1].HTTPConfig.FollowRedirects, "an own http_config replaces the global one")
	require.Equal(t, "http://proxy:3128", cfgs[1].HTTPConfig.ProxyURL.String())
	require.Equal(t, "https://hooks.example/from-file", cfgs[2].APIURL, "api_url_file is read and trimmed")
	require.Equal(t, filepath.Join("testdata", "secrets", "url"), cfgs[2].APIURLFile)

	c := decodeOne(t, `
global:
  slack_api_url_file: secrets/url
slack_configs:
  - channel: '#a'
`)
	require.Equal(t, "https://hooks.example/from-file", c.APIURL)
}

func TestSlackAppToken(t *testing.T) {
	c := decodeOne(t, `
global:
  slack_app_token: xoxb-global
slack_configs:
  - channel: '#a'
    update_message: true
`)
	require.Equal(t, "https://slack.com/api/chat.postMessage", c.APIURL)
	require.Equal(t, "xoxb-global", c.BotToken)
	require.Equal(t, "Bearer", c.HTTPConfig.Authorization.Type, "the token is the client's authorization, as in Alertmanager")
	require.Equal(t, "xoxb-global", string(c.HTTPConfig.Authorization.Credentials))

	c = decodeOne(t, `
global:
  slack_app_token: xoxb-global
  slack_app_url: https://slack.example/api/chat.postMessage
slack_configs:
  - app_token_file: secrets/password
    post_updates_to_thread: true
`)
	require.Equal(t, "https://slack.example/api/chat.postMessage", c.APIURL)
	require.Empty(t, c.BotToken)
	require.Equal(t, filepath.Join("testdata", "secrets", "password"), c.BotTokenFile)

	// A webhook of its own: the global token does not apply.
	c = decodeOne(t, `
global:
  slack_app_token: xoxb-global
slack_configs:
  - api_url: https://hooks.slack.com/services/T/B/x
`)
	require.Empty(t, c.BotToken)
	require.Nil(t, c.HTTPConfig.Authorization)
}

// TestSlackBotTokenViaHTTPConfig: http_config.authorization with api_url
// chat.postMessage is the bot token, as the issue asks.
func TestSlackBotTokenViaHTTPConfig(t *testing.T) {
	c := decodeOne(t, `
global:
  slack_app_token: xoxb-global
slack_configs:
  - api_url: https://slack.com/api/chat.postMessage
    update_message: true
    http_config:
      authorization:
        credentials: xoxb-own
`)
	require.Equal(t, "xoxb-own", c.BotToken)
	require.Equal(t, "https://slack.com/api/chat.postMessage", c.APIURL)

	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte("xoxb-file\n"), 0o600))
	c = decodeOne(t, fmt.Sprintf(`
slack_configs:
  - api_url: https://slack.com/api/chat.postMessage
    http_config: {bearer_token_file: %s}
`, file))
	require.Equal(t, file, c.BotTokenFile)

	// Basic auth on a webhook is no bot token.
	c = decodeOne(t, `
slack_configs:
  - api_url: https://proxy.example/hook
    http_config: {authorization: {credentials: x}}
`)
	require.Empty(t, c.BotToken)
}

// TestSlackErrors: every problem, with its line; URLs and tokens are not
// repeated.
func TestSlackErrors(t *testing.T) {
	cfgs, errs := decodeSlack(t, `
global:
  slack_app_token: xoxb-global
  http_config: {authorization: {credentials: x}}
slack_configs:
  - api_url: https://hooks.slack.com/services/T/B/x
    chanel: '#typo'
  - api_url: 'ftp://s3cr3t.example/x'
  - api_url: 'http://x'
    api_url_file: secrets/url
  - app_token: xoxb-s3cr3t
    api_url: 'http://x'
  - api_url_file: secrets/missing
  - api_url_file: secrets/bad-url
  - {}
  - api_url: https://hooks.slack.com/services/T/B/x
    update_message: true
  - api_url: https://hooks.slack.com/services/T/B/x
    fields:
      - {title: a}
      - {value: b}
      - {title: a, value: b, wide: true}
    actions:
      - {type: button, text: x}
      - {url: 'http://x', text: x}
      - {name: n, type: button}
      - {name: n, type: button, text: x, confirm: {title: t}}
  - api_url: https://hooks.slack.com/services/T/B/x
    timeout: soon
    link_names: maybe
    mrkdwn_in: text
    http_config: {bearer_token: a, bearer_token_file: b}
  -
  - app_url: 'not a url'
    app_token: x
    http_config: {}
`)
	want := []string{
		"7: field chanel not found in slack_configs[0]",
		"8: slack_configs[1]: api_url: invalid URL: unsupported scheme \"ftp\" for URL",
		"9: slack_configs[2]: at most one of api_url & api_url_file must be configured",
		"11: slack_configs[3]: at most one of api_url/api_url_file & app_token/app_token_file must be configured",
		"13: slack_configs[4]: api_url_file testdata/secrets/missing: open testdata/secrets/missing: no such file or directory",
		"14: slack_configs[5]: api_url_file testdata/secrets/bad-url: invalid URL",
		"15: slack_configs[6]: http authorization can't be set when using Slack App tokens",
		"16: slack_configs[7]: update_message can only be used with bot tokens",
		"20: slack_configs[8]: fields[0]: missing value in Slack field configuration",
		"21: slack_configs[8]: fields[1]: missing title in Slack field configuration",
		"22: field wide not found in slack_configs[8]: fields[2]",
		"24: slack_configs[8]: actions[0]: missing name or url in Slack action configuration",
		"25: slack_configs[8]: actions[1]: missing type in Slack action configuration",
		"26: slack_configs[8]: actions[2]: missing text in Slack action configuration",
		"27: slack_configs[8]: actions[3]: confirm: missing text in Slack confirmation configuration",
		"29: slack_configs[9]: timeout: cannot unmarshal !!str `soon` into time.Duration",
		"30: slack_configs[9]: link_names: cannot unmarshal !!str `maybe` into bool",
		"31: slack_configs[9]: mrkdwn_in: cannot unmarshal !!str `text` into []string",
		"32: slack_configs[9]: http_config: at most one of bearer_token & bearer_token_file must be configured",
		"33: slack_configs[10]: missing slack config",
		"34: slack_configs[11]: app_url: invalid URL",
	}
	got := lined(errs)
	require.Len(t, got, len(want), strings.Join(got, "\n"))
	for i := range want {
		require.Contains(t, got[i], want[i])
	}
	for _, e := range got {
		require.NotContains(t, e, "s3cr3t")
		require.NotContains(t, e, "xoxb")
	}
	require.Empty(t, cfgs, "entries with errors are left out")
}

// TestSlackStrictHTTPConfig: unknown fields inside http_config are errors
// at their own line.
func TestSlackStrictHTTPConfig(t *testing.T) {
	_, errs := decodeSlack(t, `
slack_configs:
  - api_url: https://hooks.slack.com/services/T/B/x
    http_config:
      follow_redirects: true
      tls_confg: {}
`)
	require.Len(t, errs, 1)
	require.Contains(t, lined(errs)[0], "6: slack_configs[0]: http_config: field tls_confg not found")
}

func TestSlackNoEndpoint(t *testing.T) {
	_, errs := decodeSlack(t, `
slack_configs:
  - channel: '#a'
`)
	require.Equal(t, []string{"3: slack_configs[0]: no Slack API URL nor App token set either inline or in a file"}, lined(errs))
}
