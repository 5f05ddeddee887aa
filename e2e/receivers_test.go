package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// apiRequest is one request a receiver's service got.
type apiRequest struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   string
}

// json decodes the body as a JSON object ({} when it is not one).
func (r apiRequest) json() map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal([]byte(r.Body), &m)
	return m
}

// apiRecorder stands in for the services of every receiver kind: it keeps
// each request by the first element of its path (the kind) and answers as
// the service would, enough for Alertmanager's notifiers to take it as a
// success.
type apiRecorder struct {
	mu   sync.Mutex
	reqs map[string][]apiRequest
}

func (rec *apiRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	kind, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.URL.Path == "/1/messages.json" { // Pushover, reached through the proxy
		kind = "pushover"
	}
	rec.mu.Lock()
	rec.reqs[kind] = append(rec.reqs[kind], apiRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: string(body)})
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/wechat/gettoken"):
		fmt.Fprint(w, `{"access_token":"wx-access-token","errcode":0,"errmsg":"ok"}`)
	case kind == "wechat":
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
	case kind == "telegram":
		fmt.Fprint(w, `{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":-1001,"type":"group"}}}`)
	case kind == "sns":
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>`)
	case kind == "jira" && strings.HasSuffix(r.URL.Path, "/search"):
		fmt.Fprint(w, `{"total":0,"issues":[]}`)
	case kind == "jira":
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"1","key":"ALERT-1"}`)
	case kind == "rocketchat":
		fmt.Fprint(w, `{"success":true}`)
	case kind == "victorops":
		fmt.Fprint(w, `{"result":"success","entity_id":"e-1"}`)
	case kind == "pushover":
		fmt.Fprint(w, `{"status":1,"request":"p-1"}`)
	case kind == "pagerduty" || kind == "opsgenie" || kind == "incidentio":
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"status":"success","message":"ok"}`)
	default:
		fmt.Fprint(w, `{}`)
	}
}

func (rec *apiRecorder) got(kind string) []apiRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.reqs[kind])
}

// tlsProxy is an HTTP proxy that answers CONNECT itself and serves the
// tunnelled TLS connection with h: Pushover's API address is fixed, so
// the test reaches it through http_config.proxy_url.
func tlsProxy(t *testing.T, h http.Handler) string {
	t.Helper()
	certSrc := httptest.NewUnstartedServer(h)
	certSrc.StartTLS()
	certs := certSrc.TLS.Certificates
	certSrc.Close()
	conns := make(chan net.Conn)
	l := &chanListener{conns: conns, done: make(chan struct{})}
	tlsSrv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		_ = tlsSrv.Serve(tls.NewListener(l, &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12}))
	}()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
		_ = buf.Flush()
		select {
		case conns <- &bufConn{Conn: conn, r: buf.Reader}:
		case <-l.done:
			conn.Close()
		}
	}))
	t.Cleanup(func() { proxy.Close(); close(l.done); tlsSrv.Close() })
	return proxy.URL
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *chanListener) Close() error   { return nil }
func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// upstreamReceivers is a receivers section with one receiver per kind that
// alerter delivers through Alertmanager's notifiers, each pointed at base
// (Pushover through proxy), with secrets that the tests look for.
func upstreamReceivers(base, proxy string) string {
	return `
  - name: pagerduty
    pagerduty_configs: [{routing_key: pd-routing-key-secret, url: '` + base + `/pagerduty/v2/enqueue'}]
  - name: opsgenie
    opsgenie_configs:
      - api_key: og-api-key-secret
        api_url: '` + base + `/opsgenie/'
        priority: P1
        responders: [{type: team, name: sre}]
  - name: victorops
    victorops_configs: [{api_key: vo-api-key-secret, api_url: '` + base + `/victorops/', routing_key: vo-route}]
  - name: wechat
    wechat_configs: [{send_resolved: true, api_secret: wx-api-secret, corp_id: wx-corp, api_url: '` + base + `/wechat/', to_user: '@all', agent_id: '1000002'}]
  - name: sns
    sns_configs:
      - api_url: '` + base + `/sns/'
        topic_arn: 'arn:aws:sns:us-east-1:123456789012:alerts'
        sigv4: {region: us-east-1, access_key: AKIDEXAMPLE, secret_key: sns-secret-key-secret}
  - name: telegram
    telegram_configs: [{api_url: '` + base + `/telegram', bot_token: tg-bot-token-secret, chat_id: -1001, parse_mode: HTML}]
  - name: discord
    discord_configs: [{webhook_url: '` + base + `/discord/discord-webhook-secret'}]
  - name: webex
    webex_configs:
      - api_url: '` + base + `/webex/v1/messages'
        room_id: room-1
        http_config: {authorization: {credentials: webex-token-secret}}
  - name: msteams
    msteams_configs: [{webhook_url: '` + base + `/msteams/msteams-webhook-secret'}]
  - name: msteamsv2
    msteamsv2_configs: [{webhook_url: '` + base + `/msteamsv2/msteamsv2-webhook-secret'}]
  - name: jira
    jira_configs:
      - api_url: '` + base + `/jira/rest/api/2'
        project: ALERT
        issue_type: Bug
        http_config: {basic_auth: {username: jira-user, password: jira-password-secret}}
  - name: rocketchat
    rocketchat_configs: [{send_resolved: true, api_url: '` + base + `/rocketchat', token_id: rc-token-id, token: rc-token-secret, channel: '#alerts'}]
  - name: incidentio
    incidentio_configs: [{url: '` + base + `/incidentio/alert-events', alert_source_token: io-token-secret}]
  - name: mattermost
    mattermost_configs: [{webhook_url: '` + base + `/mattermost/mattermost-webhook-secret'}]
  - name: pushover
    pushover_configs:
      - user_key: po-user-secret
        token: po-token-secret
        http_config: {proxy_url: '` + proxy + `', tls_config: {insecure_skip_verify: true}}
`
}

// upstreamKinds are the receivers of upstreamReceivers.
var upstreamKinds = []string{
	"pagerduty", "opsgenie", "victorops", "wechat", "sns", "telegram", "discord", "webex",
	"msteams", "msteamsv2", "jira", "rocketchat", "incidentio", "mattermost", "pushover",
}

// upstreamConfig routes alerts by their kind label to the receiver of
// that name, at once.
func upstreamConfig(base, proxy string) string {
	var routes strings.Builder
	for _, k := range upstreamKinds {
		fmt.Fprintf(&routes, "    - {matchers: ['kind=%q'], receiver: %s}\n", k, k)
	}
	return `
route:
  receiver: none
  group_by: [kind]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
` + routes.String() + `
receivers:
  - name: none
` + upstreamReceivers(base, proxy)
}

// TestEveryReceiverKind: the binary delivers an alert and its resolution
// to every kind it delivers through Alertmanager's notifiers, and each
// service gets what its API needs: the method, path, credentials and the
// fields of the body.
func TestEveryReceiverKind(t *testing.T) {
	t.Parallel()
	rec := &apiRecorder{reqs: map[string][]apiRequest{}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	a := startAlerter(t, map[string]string{"alerter.yml": upstreamConfig(srv.URL, tlsProxy(t, rec))}, "")

	startsAt := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano)
	postAll := func(endsAt string) {
		var alerts []string
		for _, k := range upstreamKinds {
			alerts = append(alerts, fmt.Sprintf(`{"labels":{"alertname":"DiskFull","kind":%q,"severity":"critical","instance":"db-1"},"annotations":{"summary":"disk full on db-1"},"startsAt":%q%s}`, k, startsAt, endsAt))
		}
		code, body := postJSON(t, a.url+"/api/v2/alerts", "["+strings.Join(alerts, ",")+"]")
		require.Equal(t, http.StatusOK, code, body)
	}
	postAll("")
	// Every kind gets its trigger; Jira searches for an open issue first,
	// WeChat asks for a token first.
	first := map[string]int{"jira": 2, "wechat": 2}
	waitRequests := func(want func(string) int, what string) {
		t.Helper()
		missing := func() []string {
			var out []string
			for _, k := range upstreamKinds {
				if n := len(rec.got(k)); n < want(k) {
					out = append(out, fmt.Sprintf("%s (%d requests)", k, n))
				}
			}
			return out
		}
		for deadline := time.Now().Add(30 * time.Second); len(missing()) > 0 && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		require.Empty(t, missing(), "kinds without their %s", what)
	}
	waitRequests(func(k string) int { return max(1, first[k]) }, "trigger")

	postAll(fmt.Sprintf(`,"endsAt":%q`, time.Now().UTC().Format(time.RFC3339Nano)))
	// The resolution: Jira searches again (and finds no issue here);
	// WeChat reuses its token.
	waitRequests(func(k string) int { return max(1, first[k]) + 1 }, "resolution")

	checks := map[string]func(t *testing.T, trigger, resolve apiRequest){
		"pagerduty": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "/pagerduty/v2/enqueue", tr.Path)
			b := tr.json()
			require.Equal(t, "pd-routing-key-secret", b["routing_key"])
			require.Equal(t, "trigger", b["event_action"])
			require.NotEmpty(t, b["dedup_key"])
			require.Contains(t, b["payload"].(map[string]any)["summary"], "DiskFull")
			require.Equal(t, "resolve", rs.json()["event_action"])
			require.Equal(t, b["dedup_key"], rs.json()["dedup_key"], "the dedup key comes from the group key")
		},
		"opsgenie": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "/opsgenie/v2/alerts", tr.Path)
			require.Equal(t, "GenieKey og-api-key-secret", tr.Header.Get("Authorization"))
			b := tr.json()
			require.NotEmpty(t, b["alias"])
			require.Equal(t, "P1", b["priority"])
			require.Equal(t, []any{map[string]any{"type": "team", "name": "sre"}}, b["responders"])
			require.Equal(t, "/opsgenie/v2/alerts/"+b["alias"].(string)+"/close", rs.Path)
			require.Equal(t, "alias", rs.Query.Get("identifierType"))
		},
		"victorops": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "/victorops/vo-api-key-secret/vo-route", tr.Path)
			require.Equal(t, "CRITICAL", tr.json()["message_type"])
			require.Equal(t, "RECOVERY", rs.json()["message_type"])
			require.Equal(t, tr.json()["entity_id"], rs.json()["entity_id"])
		},
		"wechat": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "/wechat/message/send", tr.Path)
			require.Equal(t, "wx-access-token", tr.Query.Get("access_token"))
			require.Equal(t, "@all", tr.json()["touser"])
			require.Equal(t, "/wechat/message/send", rs.Path)
		},
		"sns": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, http.MethodPost, tr.Method)
			require.True(t, strings.HasPrefix(tr.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), tr.Header.Get("Authorization"))
			form, err := url.ParseQuery(tr.Body)
			require.NoError(t, err)
			require.Equal(t, "Publish", form.Get("Action"))
			require.Equal(t, "arn:aws:sns:us-east-1:123456789012:alerts", form.Get("TopicArn"))
			require.Contains(t, form.Get("Message"), "DiskFull")
			require.Contains(t, rs.Body, "Action=Publish")
		},
		"telegram": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "/telegram/bottg-bot-token-secret/sendMessage", tr.Path)
			b := tr.json()
			require.Equal(t, "-1001", fmt.Sprint(b["chat_id"]))
			require.Equal(t, "HTML", b["parse_mode"])
			require.Contains(t, b["text"], "DiskFull")
			require.Contains(t, rs.json()["text"], "Alerts Resolved")
		},
		"discord": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "/discord/discord-webhook-secret", tr.Path)
			require.Contains(t, tr.Body, "FIRING")
			require.Contains(t, rs.Body, "RESOLVED")
		},
		"webex": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "/webex/v1/messages", tr.Path)
			require.Equal(t, "Bearer webex-token-secret", tr.Header.Get("Authorization"))
			require.Equal(t, "room-1", tr.json()["roomId"])
			require.Contains(t, rs.json()["markdown"], "Alerts Resolved")
		},
		"msteams": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "MessageCard", tr.json()["type"])
			require.Contains(t, tr.Body, "FIRING")
			require.Contains(t, rs.Body, "RESOLVED")
		},
		"msteamsv2": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "message", tr.json()["type"])
			require.Contains(t, tr.Body, "AdaptiveCard")
			require.Contains(t, rs.Body, "RESOLVED")
		},
		"jira": func(t *testing.T, tr, rs apiRequest) {
			reqs := rec.got("jira")
			require.Equal(t, "/jira/rest/api/2/search", reqs[0].Path)
			require.Equal(t, "/jira/rest/api/2/issue", reqs[1].Path)
			user, pass, ok := (&http.Request{Header: reqs[1].Header}).BasicAuth()
			require.True(t, ok)
			require.Equal(t, "jira-user", user)
			require.Equal(t, "jira-password-secret", pass)
			fields := reqs[1].json()["fields"].(map[string]any)
			require.Equal(t, "ALERT", fields["project"].(map[string]any)["key"])
			require.Equal(t, "Bug", fields["issuetype"].(map[string]any)["name"])
			require.Equal(t, "/jira/rest/api/2/search", reqs[2].Path, "the resolution looks for the issue")
		},
		"rocketchat": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "/rocketchat/api/v1/chat.postMessage", tr.Path)
			require.Equal(t, "rc-token-secret", tr.Header.Get("X-Auth-Token"))
			require.Equal(t, "rc-token-id", tr.Header.Get("X-User-Id"))
			require.Equal(t, "#alerts", tr.json()["channel"])
		},
		"incidentio": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "/incidentio/alert-events", tr.Path)
			require.Equal(t, "Bearer io-token-secret", tr.Header.Get("Authorization"))
			require.Equal(t, "firing", tr.json()["status"])
			require.Equal(t, "resolved", rs.json()["status"])
		},
		"mattermost": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "/mattermost/mattermost-webhook-secret", tr.Path)
			require.Contains(t, tr.Body, "DiskFull")
			require.Contains(t, rs.Body, "RESOLVED")
		},
		"pushover": func(t *testing.T, tr, rs apiRequest) {
			require.Equal(t, "/1/messages.json", tr.Path)
			form := tr.Query // Alertmanager sends the parameters in the query
			require.Equal(t, "po-token-secret", form.Get("token"))
			require.Equal(t, "po-user-secret", form.Get("user"))
			require.Contains(t, form.Get("title"), "FIRING")
		},
	}
	require.Len(t, checks, len(upstreamKinds))
	for _, k := range upstreamKinds {
		t.Run(k, func(t *testing.T) {
			reqs := rec.got(k)
			tr := reqs[max(1, first[k])-1] // after the token or search
			checks[k](t, tr, reqs[len(reqs)-1])
		})
	}

	// A test notification reaches every kind too (receivers test, here
	// through the running server's endpoint).
	for _, k := range upstreamKinds {
		before := len(rec.got(k))
		code, body := post(t, a.url+"/api/v1/receivers/"+k+"/test")
		require.Equal(t, http.StatusOK, code, body)
		var out struct {
			Data struct {
				Success      bool `json:"success"`
				Integrations []struct {
					Integration string `json:"integration"`
					Success     bool   `json:"success"`
				} `json:"integrations"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &out), body)
		res := out.Data
		require.True(t, res.Success, "%s: %s", k, body)
		require.Len(t, res.Integrations, 1)
		require.Equal(t, k+"/0", res.Integrations[0].Integration)
		require.Greater(t, len(rec.got(k)), before, "%s: the test notification reached the service", k)
	}
}

// TestRuleAlertToPagerDutyOpsgenieTeams: a rule's alert on the embedded
// datasource fires and resolves, and a PagerDuty, an Opsgenie and a Teams
// receiver each get the trigger and then the resolution for it.
func TestRuleAlertToPagerDutyOpsgenieTeams(t *testing.T) {
	t.Parallel()
	rec := &apiRecorder{reqs: map[string][]apiRequest{}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	a := startAlerter(t, map[string]string{
		"alerter.yml": `
global:
  evaluation_interval: 1s
datasources:
  - {name: local, type: embedded, series_files: [series.yml]}
rule_files: [rules.yml]
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: oncall
    pagerduty_configs: [{routing_key: pd-key, url: '` + srv.URL + `/pagerduty/v2/enqueue'}]
    opsgenie_configs: [{api_key: og-key, api_url: '` + srv.URL + `/opsgenie/'}]
    msteams_configs: [{webhook_url: '` + srv.URL + `/msteams/hook'}]
`,
		// Down for 4 s from the start, then up for good.
		"series.yml": "interval: 1s\ninput_series:\n  - series: 'up{job=\"db\"}'\n    values: '0x3 1x100000'\n",
		"rules.yml": `
groups:
  - name: db
    rules:
      - alert: DBDown
        expr: up{job="db"} == 0
        labels: {severity: critical}
        annotations: {summary: 'db is down'}
`,
	}, "")
	for _, k := range []string{"pagerduty", "opsgenie", "msteams"} {
		var reqs []apiRequest
		for deadline := time.Now().Add(30 * time.Second); len(reqs) < 2 && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			reqs = rec.got(k)
		}
		require.Len(t, reqs, 2, "%s: a trigger and a resolution\n%s", k, a.Output())
		switch k {
		case "pagerduty":
			require.Equal(t, "trigger", reqs[0].json()["event_action"])
			require.Equal(t, "resolve", reqs[1].json()["event_action"])
			require.Contains(t, reqs[0].json()["payload"].(map[string]any)["summary"], "DBDown")
		case "opsgenie":
			require.Equal(t, "/opsgenie/v2/alerts", reqs[0].Path)
			require.Contains(t, reqs[0].json()["message"], "DBDown")
			require.Equal(t, "/opsgenie/v2/alerts/"+reqs[0].json()["alias"].(string)+"/close", reqs[1].Path)
		case "msteams":
			require.Contains(t, reqs[0].Body, "FIRING")
			require.Contains(t, reqs[1].Body, "RESOLVED")
		}
	}
}
