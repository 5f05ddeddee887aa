package notifiers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

// upstreamEntries are entries of the kinds alerter sends through
// Alertmanager's notifiers, pointed at base. Pushover's address is fixed
// (the e2e test reaches it through a proxy).
func upstreamEntries(base string) map[string]string {
	return map[string]string{
		"pagerduty":  `pagerduty_configs: [{routing_key: k, url: '` + base + `/pagerduty'}]`,
		"opsgenie":   `opsgenie_configs: [{api_key: k, api_url: '` + base + `/opsgenie/'}]`,
		"victorops":  `victorops_configs: [{api_key: k, routing_key: r, api_url: '` + base + `/victorops/'}]`,
		"wechat":     `wechat_configs: [{api_secret: s, corp_id: c, api_url: '` + base + `/wechat/'}]`,
		"sns":        `sns_configs: [{api_url: '` + base + `/sns/', topic_arn: 'arn:aws:sns:us-east-1:123456789012:t', sigv4: {region: us-east-1, access_key: AKID, secret_key: s}}]`,
		"telegram":   `telegram_configs: [{api_url: '` + base + `/telegram', bot_token: b, chat_id: 1}]`,
		"discord":    `discord_configs: [{webhook_url: '` + base + `/discord'}]`,
		"webex":      `webex_configs: [{api_url: '` + base + `/webex', room_id: r, http_config: {authorization: {credentials: c}}}]`,
		"msteams":    `msteams_configs: [{webhook_url: '` + base + `/msteams'}]`,
		"msteamsv2":  `msteamsv2_configs: [{webhook_url: '` + base + `/msteamsv2'}]`,
		"jira":       `jira_configs: [{api_url: '` + base + `/jira', project: P, issue_type: Bug}]`,
		"rocketchat": `rocketchat_configs: [{api_url: '` + base + `/rocketchat', token_id: i, token: t}]`,
		"incidentio": `incidentio_configs: [{url: '` + base + `/incidentio', alert_source_token: a}]`,
		"mattermost": `mattermost_configs: [{webhook_url: '` + base + `/mattermost'}]`,
	}
}

// buildOne builds the integrations of one receiver holding entries.
func buildOne(t *testing.T, entries ...string) []dispatch.Integration {
	t.Helper()
	yml := "route: {receiver: r}\nreceivers:\n  - name: r\n"
	for _, e := range entries {
		yml += "    " + e + "\n"
	}
	cfg, err := config.Parse("alerter.yml", []byte(yml))
	require.NoError(t, err)
	tmpl, err := LoadTemplate(cfg.Routing, "http://alerter.example")
	require.NoError(t, err)
	ins, err := Build(cfg.Routing, Options{Template: tmpl})
	require.NoError(t, err)
	return ins["r"]
}

func testBatch() *dispatch.Batch {
	now := time.Now()
	return &dispatch.Batch{
		GroupKey: `{}:{alertname="A"}`, GroupLabels: model.LabelSet{"alertname": "A"}, Receiver: "r", Now: now,
		Reason: dispatch.ReasonFirst,
		Alerts: []*dispatch.Alert{{Labels: model.LabelSet{"alertname": "A"}, StartsAt: now.Add(-time.Minute)}},
	}
}

// retryExceptions are the kinds whose Alertmanager notifier decides
// otherwise than "5xx and 429 are tried again, other 4xx are final", by
// kind and status: alerter keeps each package's decision.
var retryExceptions = map[string]map[int]bool{
	// 429 is final: the package retries 5xx only.
	"msteams":    {429: false},
	"msteamsv2":  {429: false},
	"mattermost": {429: false},
	"rocketchat": {429: false},
	"victorops":  {429: false},
	"sns":        {429: false}, // the AWS SDK has already retried it
	// Telegram's client library reports every failed call alike: retried.
	"telegram": {400: true, 404: true},
	// WeChat fails at its token request: an answer without a token is
	// taken as a bad secret, never retried.
	"wechat": {500: false, 503: false, 429: false},
}

// TestUpstreamRetryVerdicts: for every kind, what Alertmanager's notifier
// decides about a failed request is alerter's retry decision: 5xx and 429
// are tried again, other 4xx are final, except where the package decides
// otherwise (retryExceptions).
func TestUpstreamRetryVerdicts(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, `{"errcode":1,"errmsg":"no","ok":false,"description":"no"}`)
	}))
	t.Cleanup(srv.Close)
	for kind, entry := range upstreamEntries(srv.URL) {
		ins := buildOne(t, entry)
		require.Len(t, ins, 1)
		require.Equal(t, kind, ins[0].Kind)
		for _, c := range []struct {
			status int
			retry  bool
		}{{500, true}, {503, true}, {429, true}, {400, false}, {404, false}} {
			status = c.status
			retry, err := ins[0].Notifier.Notify(context.Background(), testBatch())
			require.Error(t, err, "%s: %d", kind, c.status)
			if want, ok := retryExceptions[kind][c.status]; ok {
				c.retry = want
			}
			if c.retry != retry {
				t.Errorf("%s: %d: retry %v: %v", kind, c.status, retry, err)
			}
			require.NotContains(t, err.Error(), srv.URL+"/", "%s: errors do not carry the URL", kind)
		}
	}
}

// TestDeadUpstreamDoesNotHoldOthers: one integration of a receiver whose
// endpoint never answers does not delay the receiver's other
// integrations: each is sent on its own.
func TestDeadUpstreamDoesNotHoldOthers(t *testing.T) {
	release := make(chan struct{})
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(func() { close(release); dead.Close() })
	got := make(chan string, 4)
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Path
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(live.Close)
	ins := buildOne(t,
		`pagerduty_configs: [{routing_key: k, url: '`+dead.URL+`/pagerduty'}]`,
		`opsgenie_configs: [{api_key: k, api_url: '`+live.URL+`/opsgenie/'}]`)
	require.Len(t, ins, 2)

	nlog, err := dispatch.NewNotificationLog(context.Background(), nil, time.Hour)
	require.NoError(t, err)
	wait, interval := time.Duration(0), time.Minute
	d, err := dispatch.NewDispatcher(dispatch.Options{
		Route:     dispatch.NewRoute(&config.Route{Receiver: "r", GroupWait: &wait, GroupInterval: &interval}),
		Receivers: map[string][]dispatch.Integration{"r": ins},
		Log:       nlog,
		Metrics:   dispatch.NewMetrics(nil),
	})
	require.NoError(t, err)
	s := dispatch.NewStore(5*time.Minute, nil)
	s.SetDispatcher(d)
	t.Cleanup(func() { s.SetDispatcher(nil); d.Stop() })
	require.NoError(t, s.Put([]*dispatch.Alert{{Labels: model.LabelSet{"alertname": "A"}, StartsAt: time.Now()}}))
	select {
	case p := <-got:
		require.True(t, strings.HasPrefix(p, "/opsgenie/"), p)
	case <-time.After(20 * time.Second):
		t.Fatal("Opsgenie waited for the PagerDuty endpoint that never answers")
	}
}

// BenchmarkReload500Receivers: what a reload does with 500 receivers of
// every kind (the 14 upstream kinds of upstreamEntries, webhook, Slack and
// email in turn): parse and check the configuration, then build every
// integration. An op is one reload.
func BenchmarkReload500Receivers(b *testing.B) {
	entries := upstreamEntries("http://127.0.0.1:1")
	kinds := make([]string, 0, len(entries))
	for k := range entries {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	own := []string{
		`webhook_configs: [{url: 'http://127.0.0.1:1/hook'}]`,
		`slack_configs: [{api_url: 'http://127.0.0.1:1/slack', channel: '#x'}]`,
		`email_configs: [{to: a@example.org, from: b@example.org, smarthost: '127.0.0.1:1', require_tls: false}]`,
	}
	var yml strings.Builder
	yml.WriteString("route: {receiver: r0}\nreceivers:\n")
	for i := range 500 {
		entry := ""
		if n := i % (len(kinds) + len(own)); n < len(kinds) {
			entry = entries[kinds[n]]
		} else {
			entry = own[n-len(kinds)]
		}
		fmt.Fprintf(&yml, "  - name: r%d\n    %s\n", i, entry)
	}
	raw := []byte(yml.String())
	for b.Loop() {
		cfg, err := config.Parse("alerter.yml", raw)
		if err != nil {
			b.Fatal(err)
		}
		tmpl, err := LoadTemplate(cfg.Routing, "http://alerter.example")
		if err != nil {
			b.Fatal(err)
		}
		ins, err := Build(cfg.Routing, Options{Template: tmpl})
		if err != nil {
			b.Fatal(err)
		}
		if len(ins) != 500 {
			b.Fatalf("%d receivers built", len(ins))
		}
	}
}
