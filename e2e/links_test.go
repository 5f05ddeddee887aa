package e2e

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// TestAlertSourceLinksAnswer: the generatorURL of alerts from a prometheus
// datasource (that Prometheus' graph of the expression), an embedded one
// (the rule on alerter's rules page) and one with a source_url template
// leads somewhere: followed from the notification and from the alerts
// page, each answers 200.
func TestAlertSourceLinksAnswer(t *testing.T) {
	t.Parallel()
	_, target := gaugeExporter(t)
	promAddr := testutil.FreeAddr(t)
	startPrometheus(t, target, t.TempDir(), promAddr)

	var (
		mu    sync.Mutex
		links = map[string]string{} // alertname → generatorURL, as notified
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Alerts []struct {
				Labels       map[string]string `json:"labels"`
				GeneratorURL string            `json:"generatorURL"`
			} `json:"alerts"`
		}
		b, _ := io.ReadAll(r.Body)
		if json.Unmarshal(b, &msg) == nil {
			mu.Lock()
			for _, a := range msg.Alerts {
				links[a.Labels["alertname"]] = a.GeneratorURL
			}
			mu.Unlock()
		}
	}))
	defer hook.Close()

	a := startAlerter(t, map[string]string{
		"alerter.yml": fmt.Sprintf(`
global: {evaluation_interval: 1s}
datasources:
  - {name: prom, type: prometheus, url: 'http://%[1]s'}
  - {name: local, type: embedded}
  - name: tmpl
    type: prometheus
    url: 'http://%[1]s'
    source_url: '{{ .ExternalURL }}/rules?q={{ .Rule | queryEscape }}'
rule_files: [rules.yml]
route: {receiver: hook, group_by: [alertname], group_wait: 100ms}
receivers: [{name: hook, webhook_configs: [{url: '%[2]s'}]}]
`, promAddr, hook.URL),
		"rules.yml": `
groups:
  - {name: onprom, datasource: prom, interval: 1s, rules: [{alert: FromProm, expr: 'vector(1) > 0'}]}
  - {name: onlocal, datasource: local, interval: 1s, rules: [{alert: FromLocal, expr: 'vector(1) > 0'}]}
  - {name: templated, datasource: tmpl, interval: 1s, rules: [{alert: FromTemplate, expr: 'vector(1) > 0'}]}
`,
	}, "")

	testutil.Eventually(t, 30*time.Second, 200*time.Millisecond, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(links) == 3
	}, "the three alerts were not notified")
	mu.Lock()
	got := map[string]string{}
	for k, v := range links {
		got[k] = v
	}
	mu.Unlock()
	require.Equal(t, "http://"+promAddr+"/graph?g0.expr=vector%281%29+%3E+0&g0.tab=1", got["FromProm"])
	require.Equal(t, a.url+"/rules?q=FromLocal", got["FromLocal"])
	require.Equal(t, a.url+"/rules?q=FromTemplate", got["FromTemplate"])

	// Each alert's page (linked from its line on the alerts page) links
	// its source.
	_, page, err := testutil.Get(a.url + "/")
	require.NoError(t, err)
	hrefs := map[string]bool{}
	alertPages := regexp.MustCompile(`<a class="alertname" href="([^"]*)"`).FindAllStringSubmatch(string(page), -1)
	require.Len(t, alertPages, 3)
	for _, p := range alertPages {
		_, body, err := testutil.Get(a.url + html.UnescapeString(p[1]))
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(string(body), -1) {
			hrefs[html.UnescapeString(m[1])] = true
		}
	}
	for name, link := range got {
		code, body, err := testutil.Get(link)
		require.NoError(t, err, name)
		require.Equal(t, http.StatusOK, code, "%s: %s", name, link)
		if strings.HasPrefix(link, a.url) {
			require.Contains(t, string(body), name, "the rules page shows the rule")
		}
		require.True(t, hrefs[link], "the alert's page links %s to %s", name, link)
	}
}
