// Command receiverdiff sends the same alerts through alerter and through
// an Alertmanager binary configured alike, to a recorder standing in for
// each receiver kind's service, and compares the requests body for body:
//
//	go run ./bench/receiverdiff -alerter /tmp/alerter -alertmanager /tmp/alertmanager-0.35
//
// Alertmanager 0.35 is not packaged by Debian; build it from the module's
// source (go build ./cmd/alertmanager, after creating ui/app/dist/index.html).
// It prints one line per kind and exits 1 when a body differs.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// kinds and their entries; base is the recorder's URL.
var kinds = map[string]string{
	"pagerduty":  `pagerduty_configs: [{routing_key: pd-key, url: '%s/pagerduty/v2/enqueue'}]`,
	"opsgenie":   `opsgenie_configs: [{api_key: og-key, api_url: '%s/opsgenie/', priority: P1, responders: [{type: team, name: sre}]}]`,
	"victorops":  `victorops_configs: [{api_key: vo-key, routing_key: vo-route, api_url: '%s/victorops/'}]`,
	"telegram":   `telegram_configs: [{api_url: '%s/telegram', bot_token: tg-token, chat_id: -1001, parse_mode: HTML}]`,
	"discord":    `discord_configs: [{webhook_url: '%s/discord/hook'}]`,
	"webex":      `webex_configs: [{api_url: '%s/webex/v1/messages', room_id: room-1, http_config: {authorization: {credentials: wx}}}]`,
	"msteams":    `msteams_configs: [{webhook_url: '%s/msteams/hook'}]`,
	"msteamsv2":  `msteamsv2_configs: [{webhook_url: '%s/msteamsv2/hook'}]`,
	"rocketchat": `rocketchat_configs: [{api_url: '%s/rocketchat', token_id: i, token: t, channel: '#alerts'}]`,
	"incidentio": `incidentio_configs: [{url: '%s/incidentio/alert-events', alert_source_token: io}]`,
	"mattermost": `mattermost_configs: [{webhook_url: '%s/mattermost/hook'}]`,
	"jira":       `jira_configs: [{api_url: '%s/jira/rest/api/2', project: ALERT, issue_type: Bug}]`,
	"wechat":     `wechat_configs: [{api_secret: s, corp_id: c, api_url: '%s/wechat/', to_user: '@all', agent_id: '1'}]`,
}

type recorder struct {
	mu   sync.Mutex
	reqs map[string][]string // kind → "METHOD PATH BODY"
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	kind, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	rec.mu.Lock()
	rec.reqs[kind] = append(rec.reqs[kind], r.Method+" "+r.URL.RequestURI()+" "+string(body))
	rec.mu.Unlock()
	switch {
	case strings.HasSuffix(r.URL.Path, "/gettoken"):
		fmt.Fprint(w, `{"access_token":"t","errcode":0}`)
	case kind == "wechat":
		fmt.Fprint(w, `{"errcode":0}`)
	case kind == "telegram":
		fmt.Fprint(w, `{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":-1001,"type":"group"}}}`)
	case kind == "jira" && strings.HasSuffix(r.URL.Path, "/search"):
		fmt.Fprint(w, `{"total":0,"issues":[]}`)
	case kind == "jira":
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"1","key":"ALERT-1"}`)
	case kind == "rocketchat":
		fmt.Fprint(w, `{"success":true}`)
	default:
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{}`)
	}
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func main() {
	alerterBin := flag.String("alerter", "", "alerter binary")
	amBin := flag.String("alertmanager", "", "Alertmanager binary (0.35)")
	flag.Parse()
	if *alerterBin == "" || *amBin == "" {
		flag.Usage()
		os.Exit(2)
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	recs := map[string]*recorder{}
	procs := []*exec.Cmd{}
	defer func() {
		for _, p := range procs {
			_ = p.Process.Kill()
		}
	}()
	start := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	for _, target := range []string{"alerter", "alertmanager"} {
		rec := &recorder{reqs: map[string][]string{}}
		recs[target] = rec
		recAddr := freeAddr()
		go func() { _ = http.ListenAndServe(recAddr, rec) }()
		var cfg strings.Builder
		cfg.WriteString("route:\n  receiver: none\n  group_by: [kind]\n  group_wait: 0s\n  group_interval: 1s\n  routes:\n")
		for _, k := range names {
			fmt.Fprintf(&cfg, "    - {matchers: ['kind=%q'], receiver: %s}\n", k, k)
		}
		cfg.WriteString("receivers:\n  - name: none\n")
		for _, k := range names {
			fmt.Fprintf(&cfg, "  - name: %s\n    %s\n", k, fmt.Sprintf(kinds[k], "http://"+recAddr))
		}
		dir, err := os.MkdirTemp("", "receiverdiff-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
			panic(err)
		}
		addr := freeAddr()
		args := []string{"--config.file=" + path, "--storage.path=" + filepath.Join(dir, "data"), "--web.listen-address=" + addr,
			"--web.external-url=http://alerting.example", "--log.level=warn"}
		bin := *alerterBin
		if target == "alertmanager" {
			bin = *amBin
			args = append(args, "--cluster.listen-address=")
		}
		p := exec.Command(bin, args...)
		p.Stderr = os.Stderr
		if err := p.Start(); err != nil {
			panic(err)
		}
		procs = append(procs, p)
		for i := 0; i < 100; i++ {
			if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		var alerts []map[string]any
		for _, k := range names {
			alerts = append(alerts, map[string]any{
				"labels":      map[string]string{"alertname": "DiskFull", "kind": k, "severity": "critical", "instance": "db-1"},
				"annotations": map[string]string{"summary": "disk full on db-1", "runbook_url": "https://runbooks.example/disk"},
				"startsAt":    start, "generatorURL": "http://prometheus.example/graph?g0.expr=disk",
			})
		}
		b, _ := json.Marshal(alerts)
		resp, err := http.Post("http://"+addr+"/api/v2/alerts", "application/json", bytes.NewReader(b))
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}
	time.Sleep(5 * time.Second)
	differ := false
	for _, k := range names {
		a, m := recs["alerter"].reqs[k], recs["alertmanager"].reqs[k]
		switch {
		case len(a) == 0 || len(m) == 0:
			fmt.Printf("%-11s requests: alerter %d, alertmanager %d\n", k, len(a), len(m))
			differ = true
		case strings.Join(a, "\n") == strings.Join(m, "\n"):
			fmt.Printf("%-11s identical (%d requests, %d bytes)\n", k, len(a), len(strings.Join(a, "")))
		default:
			differ = true
			fmt.Printf("%-11s DIFFERENT\n  alerter:      %s\n  alertmanager: %s\n", k, strings.Join(a, "\n                "), strings.Join(m, "\n                "))
		}
	}
	if differ {
		os.Exit(1)
	}
}
