package config

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// SlackConfig is one slack_configs entry of a receiver, decoded and checked
// as Alertmanager 0.35 does, with the globals (slack_api_url,
// slack_app_token, slack_app_url, http_config) already applied. Text fields
// are Alertmanager templates, expanded per notification.
//
// It holds secrets (APIURL, BotToken): they are never part of an error,
// and String hides them.
type SlackConfig struct {
	// SendResolved: notify about resolved alerts too (default false, as in
	// Alertmanager).
	SendResolved bool
	// APIURL is where messages are posted: an incoming webhook URL, or a
	// Web API chat.postMessage URL (app_url when a bot token is used). It
	// is a secret. api_url_file is read when the config is loaded, as
	// webhook url_file is, so a changed file takes effect on reload.
	APIURL string
	// APIURLFile is the api_url_file (or global slack_api_url_file) APIURL
	// was read from, resolved against the config's folder, or "".
	APIURLFile string
	// AppURL is app_url, else global slack_app_url, else Slack's
	// chat.postMessage URL.
	AppURL string
	// BotToken is the token sent to Slack's Web API. It is set when APIURL
	// is a chat.postMessage URL and the token is known: app_token (or the
	// global slack_app_token) or http_config.authorization.credentials
	// (Bearer). A secret. Empty with BotTokenFile empty: APIURL is an
	// incoming webhook.
	BotToken string
	// BotTokenFile is where the bot token is read from instead
	// (app_token_file, slack_app_token_file or
	// http_config.authorization.credentials_file), resolved; the notifier
	// reads it for each message, so that a rotated token is picked up.
	BotTokenFile string
	// HTTPConfig is http_config, else global.http_config. With an app
	// token its authorization carries the token, as in Alertmanager.
	HTTPConfig commoncfg.HTTPClientConfig

	// Channel overrides the webhook's channel (#channel or @user); with a
	// bot token it is required by Slack.
	Channel  string
	Username string
	Color    string
	Title    string
	// TitleLink is the URL the title links to.
	TitleLink string
	Pretext   string
	Text      string
	// MessageText is the message's own text, outside the attachment
	// (Alertmanager 0.35).
	MessageText string
	Fields      []SlackField
	// ShortFields is the default of the fields' short.
	ShortFields bool
	Footer      string
	Fallback    string
	CallbackID  string
	IconEmoji   string
	IconURL     string
	ImageURL    string
	ThumbURL    string
	LinkNames   bool
	// MrkdwnIn lists the attachment fields Slack formats as mrkdwn; empty
	// means fallback, pretext and text.
	MrkdwnIn []string
	Actions  []SlackAction
	// UpdateMessage (a bot token only): a group's later notifications edit
	// its first message instead of posting new ones.
	UpdateMessage bool
	// PostUpdatesToThread (a bot token only): a group's later notifications
	// are replies in the thread of its first message (Alertmanager 0.35).
	PostUpdatesToThread bool
	// Timeout bounds one notification; 0 means the flush deadline only.
	Timeout time.Duration
	// Line is where the entry starts in the config file.
	Line int
}

// String describes the entry without its secrets.
func (c SlackConfig) String() string {
	mode := "incoming webhook"
	if c.BotToken != "" || c.BotTokenFile != "" {
		mode = "bot token"
	}
	return fmt.Sprintf("slack_config{line: %d, channel: %q, %s, url: <secret>}", c.Line, c.Channel, mode)
}

// GoString is String, so that %#v does not show the secrets either.
func (c SlackConfig) GoString() string { return c.String() }

// SlackField is one field of the attachment: a title and a value, both
// templates, shown side by side with other short fields.
type SlackField struct {
	Title string
	Value string
	// Short is nil when not set: the entry's ShortFields applies.
	Short *bool
}

// SlackAction is a button of the attachment: a link (URL) or an
// interactive message action (Name, Value, Confirm). Every text is a
// template.
type SlackAction struct {
	Type    string
	Text    string
	URL     string
	Style   string
	Name    string
	Value   string
	Confirm *SlackConfirm
}

// SlackConfirm is the confirmation dialog of an interactive action.
type SlackConfirm struct {
	Text        string
	Title       string
	OkText      string
	DismissText string
}

// defaultSlackConfig is Alertmanager's DefaultSlackConfig.
func defaultSlackConfig() SlackConfig {
	return SlackConfig{
		Color:      `{{ template "slack.default.color" . }}`,
		Username:   `{{ template "slack.default.username" . }}`,
		Title:      `{{ template "slack.default.title" . }}`,
		TitleLink:  `{{ template "slack.default.titlelink" . }}`,
		IconEmoji:  `{{ template "slack.default.iconemoji" . }}`,
		IconURL:    `{{ template "slack.default.iconurl" . }}`,
		Pretext:    `{{ template "slack.default.pretext" . }}`,
		Text:       `{{ template "slack.default.text" . }}`,
		Fallback:   `{{ template "slack.default.fallback" . }}`,
		CallbackID: `{{ template "slack.default.callbackid" . }}`,
		Footer:     `{{ template "slack.default.footer" . }}`,
	}
}

// DecodeSlackConfigs decodes a receiver's slack_configs entries, as kept
// in Receiver.Slack, applying the Alertmanager globals (as kept in
// Global.Alertmanager); dir is the config's folder. Unknown fields and
// invalid values are errors that carry their line (the file name is added
// by Parse), prefixed "slack_configs[N]: ". Entries with errors are left
// out of the result.
func DecodeSlackConfigs(nodes []yaml.Node, globals map[string]yaml.Node, dir string) ([]*SlackConfig, []error) {
	d := &nodeDecoder{dir: dir}
	var out []*SlackConfig
	for j := range nodes {
		before := len(d.errs)
		c := d.slack(&nodes[j], fmt.Sprintf("slack_configs[%d]", j), globals)
		if c != nil && len(d.errs) == before {
			out = append(out, c)
		}
	}
	return out, d.errs
}

// slackEndpoint is what an entry writes about where and how to post, before
// the globals apply.
type slackEndpoint struct {
	apiURL, apiURLFile, appToken, appTokenFile, appURL string
	// nodes are the value nodes of those keys, for error lines.
	nodes         map[string]*yaml.Node
	ownHTTPConfig bool
}

// slack decodes one entry, or returns nil if it is null.
func (d *nodeDecoder) slack(n *yaml.Node, what string, globals map[string]yaml.Node) *SlackConfig {
	if isNull(n) {
		d.errorf(n, "%s: missing slack config", what)
		return nil
	}
	c := defaultSlackConfig()
	c.Line = deref(n).Line
	ep := slackEndpoint{nodes: map[string]*yaml.Node{}}
	texts := map[string]*string{
		"channel": &c.Channel, "username": &c.Username, "color": &c.Color, "title": &c.Title,
		"title_link": &c.TitleLink, "pretext": &c.Pretext, "text": &c.Text, "message_text": &c.MessageText,
		"footer": &c.Footer, "fallback": &c.Fallback, "callback_id": &c.CallbackID, "icon_emoji": &c.IconEmoji,
		"icon_url": &c.IconURL, "image_url": &c.ImageURL, "thumb_url": &c.ThumbURL,
		"api_url": &ep.apiURL, "api_url_file": &ep.apiURLFile, "app_token": &ep.appToken,
		"app_token_file": &ep.appTokenFile, "app_url": &ep.appURL,
	}
	flags := map[string]*bool{
		"send_resolved": &c.SendResolved, "short_fields": &c.ShortFields, "link_names": &c.LinkNames,
		"update_message": &c.UpdateMessage, "post_updates_to_thread": &c.PostUpdatesToThread,
	}
	d.fields(n, what, func(key string, v *yaml.Node) bool {
		field := what + ": " + key
		if p, ok := texts[key]; ok {
			*p, _ = d.str(v, field)
			ep.nodes[key] = v
			return true
		}
		if p, ok := flags[key]; ok {
			d.decode(v, field, p)
			return true
		}
		switch key {
		case "fields":
			c.Fields = d.slackFields(v, field)
		case "actions":
			c.Actions = d.slackActions(v, field)
		case "mrkdwn_in":
			d.decode(v, field, &c.MrkdwnIn)
		case "timeout":
			if d.decode(v, field, &c.Timeout) && c.Timeout < 0 {
				d.errorf(v, "%s must not be negative", field)
			}
		case "http_config":
			if !isNull(v) {
				ep.ownHTTPConfig = true
				if d.strict(v, field, &c.HTTPConfig) {
					c.HTTPConfig.SetDirectory(d.dir)
				}
			}
		default:
			return false
		}
		return true
	})
	d.slackEndpoint(n, what, &c, ep, globals)
	return &c
}

// slackEndpoint sets APIURL, the bot token and HTTPConfig from what the
// entry writes and the globals, as Alertmanager's Config.UnmarshalYAML
// does, and checks them.
func (d *nodeDecoder) slackEndpoint(n *yaml.Node, what string, c *SlackConfig, ep slackEndpoint, globals map[string]yaml.Node) {
	at := func(key string) *yaml.Node {
		if v := ep.nodes[key]; v != nil {
			return v
		}
		return n
	}
	switch {
	case ep.apiURL != "" && ep.apiURLFile != "":
		d.errorf(n, "%s: at most one of api_url & api_url_file must be configured", what)
		return
	case ep.appToken != "" && ep.appTokenFile != "":
		d.errorf(n, "%s: at most one of app_token & app_token_file must be configured", what)
		return
	case (ep.apiURL != "" || ep.apiURLFile != "") && (ep.appToken != "" || ep.appTokenFile != ""):
		d.errorf(n, "%s: at most one of api_url/api_url_file & app_token/app_token_file must be configured", what)
		return
	}
	g := readSlackGlobals(globals, d.dir)
	if !ep.ownHTTPConfig {
		c.HTTPConfig = g.httpConfig
	}
	c.AppURL = cmp.Or(ep.appURL, g.appURL, slackPostMessageURL)
	ownAuth := ep.ownHTTPConfig && c.HTTPConfig.Authorization != nil
	// The global app token applies only to entries that name no endpoint
	// and no authorization of their own.
	if ep.appToken == "" && ep.appTokenFile == "" && !ownAuth && ep.apiURL == "" && ep.apiURLFile == "" {
		ep.appToken, ep.appTokenFile = g.appToken, g.appTokenFile
	} else if ep.appTokenFile != "" {
		ep.appTokenFile = resolvePath(d.dir, ep.appTokenFile)
	}
	if ep.apiURL == "" && ep.apiURLFile == "" && ep.appToken == "" && ep.appTokenFile == "" {
		ep.apiURL, ep.apiURLFile = g.apiURL, g.apiURLFile
	} else if ep.apiURLFile != "" {
		ep.apiURLFile = resolvePath(d.dir, ep.apiURLFile)
	}
	if err := checkHTTPURL(c.AppURL); err != nil {
		d.errorf(at("app_url"), "%s: app_url: %v", what, err)
	}
	switch {
	case ep.appToken != "" || ep.appTokenFile != "":
		if c.HTTPConfig.Authorization != nil {
			d.errorf(n, "%s: http authorization can't be set when using Slack App tokens", what)
			return
		}
		c.HTTPConfig.Authorization = &commoncfg.Authorization{
			Type: "Bearer", Credentials: commoncfg.Secret(ep.appToken), CredentialsFile: ep.appTokenFile,
		}
		c.APIURL = c.AppURL
	case ep.apiURLFile != "":
		c.APIURLFile = ep.apiURLFile
		s, err := readSecretFile(ep.apiURLFile)
		if err == nil {
			err = checkHTTPURL(s)
		}
		if err != nil {
			d.errorf(at("api_url_file"), "%s: api_url_file %s: %v", what, ep.apiURLFile, err)
			return
		}
		c.APIURL = s
	case ep.apiURL != "":
		if err := checkHTTPURL(ep.apiURL); err != nil {
			d.errorf(at("api_url"), "%s: api_url: %v", what, err)
			return
		}
		c.APIURL = ep.apiURL
	default:
		d.errorf(n, "%s: no Slack API URL nor App token set either inline or in a file", what)
		return
	}
	d.slackBotToken(n, what, c)
}

// slackBotToken takes the bot token from the authorization of a
// chat.postMessage endpoint and checks that the options that need one
// have it.
func (d *nodeDecoder) slackBotToken(n *yaml.Node, what string, c *SlackConfig) {
	if a := c.HTTPConfig.Authorization; a != nil && isSlackPostMessageURL(c.APIURL) && strings.EqualFold(a.Type, "Bearer") {
		c.BotToken, c.BotTokenFile = string(a.Credentials), a.CredentialsFile
		if c.BotTokenFile != "" {
			if _, err := readSecretFile(c.BotTokenFile); err != nil {
				d.errorf(n, "%s: bot token file: %v", what, err)
			}
		}
	}
	for _, opt := range []struct {
		name string
		on   bool
	}{{"update_message", c.UpdateMessage}, {"post_updates_to_thread", c.PostUpdatesToThread}} {
		if opt.on && c.BotToken == "" && c.BotTokenFile == "" {
			d.errorf(n, "%s: %s can only be used with bot tokens: set app_token or app_token_file, "+
				"or api_url %s with http_config.authorization", what, opt.name, slackPostMessageURL)
		}
	}
}

// isSlackPostMessageURL reports whether u is a Web API chat.postMessage
// URL (Slack's, or a proxy's with the same path), whose base URL is then
// the Web API's.
func isSlackPostMessageURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && strings.HasSuffix(p.Path, "/chat.postMessage") && p.RawQuery == ""
}

// slackFields decodes the fields list.
func (d *nodeDecoder) slackFields(n *yaml.Node, what string) []SlackField {
	var out []SlackField
	for i, it := range d.items(n, what) {
		item := fmt.Sprintf("%s[%d]", what, i)
		var f SlackField
		d.fields(it, item, func(key string, v *yaml.Node) bool {
			switch key {
			case "title":
				f.Title, _ = d.str(v, item+": title")
			case "value":
				f.Value, _ = d.str(v, item+": value")
			case "short":
				if !isNull(v) {
					f.Short = new(bool)
					d.decode(v, item+": short", f.Short)
				}
			default:
				return false
			}
			return true
		})
		switch {
		case f.Title == "":
			d.errorf(it, "%s: missing title in Slack field configuration", item)
		case f.Value == "":
			d.errorf(it, "%s: missing value in Slack field configuration", item)
		default:
			out = append(out, f)
		}
	}
	return out
}

// slackActions decodes the actions list. As in Alertmanager, a URL
// action drops name, value and confirm.
func (d *nodeDecoder) slackActions(n *yaml.Node, what string) []SlackAction {
	var out []SlackAction
	for i, it := range d.items(n, what) {
		item := fmt.Sprintf("%s[%d]", what, i)
		var a SlackAction
		strs := map[string]*string{"type": &a.Type, "text": &a.Text, "url": &a.URL, "style": &a.Style, "name": &a.Name, "value": &a.Value}
		d.fields(it, item, func(key string, v *yaml.Node) bool {
			if p, ok := strs[key]; ok {
				*p, _ = d.str(v, item+": "+key)
				return true
			}
			if key == "confirm" {
				a.Confirm = d.slackConfirm(v, item+": confirm")
				return true
			}
			return false
		})
		var err string
		switch {
		case a.URL == "" && a.Name == "":
			err = "missing name or url in Slack action configuration"
		case a.Type == "":
			err = "missing type in Slack action configuration"
		case a.Text == "":
			err = "missing text in Slack action configuration"
		}
		if err != "" {
			d.errorf(it, "%s: %s", item, err)
			continue
		}
		if a.URL != "" {
			a.Name, a.Value, a.Confirm = "", "", nil
		}
		out = append(out, a)
	}
	return out
}

func (d *nodeDecoder) slackConfirm(n *yaml.Node, what string) *SlackConfirm {
	if isNull(n) {
		return nil
	}
	c := &SlackConfirm{}
	strs := map[string]*string{"text": &c.Text, "title": &c.Title, "ok_text": &c.OkText, "dismiss_text": &c.DismissText}
	d.fields(n, what, func(key string, v *yaml.Node) bool {
		p, ok := strs[key]
		if ok {
			*p, _ = d.str(v, what+": "+key)
		}
		return ok
	})
	if c.Text == "" {
		d.errorf(n, "%s: missing text in Slack confirmation configuration", what)
	}
	return c
}

// slackGlobals are the Alertmanager globals a Slack entry may inherit.
type slackGlobals struct {
	apiURL, apiURLFile, appToken, appTokenFile, appURL string
	httpConfig                                         commoncfg.HTTPClientConfig
}

// readSlackGlobals reads the Slack globals and global.http_config. Their
// errors (bad http_config, both a value and a file) are reported where the
// globals are decoded, so they are not repeated here.
func readSlackGlobals(globals map[string]yaml.Node, dir string) slackGlobals {
	scratch := &nodeDecoder{dir: dir}
	str := func(key string) string {
		n, ok := globals[key]
		if !ok {
			return ""
		}
		s, _ := scratch.str(&n, key)
		return s
	}
	g := slackGlobals{
		apiURL: str("slack_api_url"), apiURLFile: resolvePath(dir, str("slack_api_url_file")),
		appToken: str("slack_app_token"), appTokenFile: resolvePath(dir, str("slack_app_token_file")),
		appURL:     str("slack_app_url"),
		httpConfig: commoncfg.DefaultHTTPClientConfig,
	}
	if n, ok := globals["http_config"]; ok && !isNull(&n) {
		if scratch.strict(&n, "global: http_config", &g.httpConfig) {
			g.httpConfig.SetDirectory(dir)
		} else {
			g.httpConfig = commoncfg.DefaultHTTPClientConfig
		}
	}
	return g
}

// readSecretFile reads a file holding a secret, without its surrounding
// white space, as Alertmanager does.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// checkHTTPURL checks a URL as Alertmanager's URL type does (Slack's
// api_url and app_url, a webhook's url): an absolute http or https URL.
// The URL is a secret and is not repeated in the error.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("invalid URL: unsupported scheme %q for URL", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("invalid URL: missing host for URL")
	}
	return nil
}
