package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	amcommon "github.com/prometheus/alertmanager/config/common"
	commoncfg "github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/testutil"
)

// The types that hold a secret in Alertmanager's and Prometheus' config
// types. commoncfg.URL (proxy_url) holds one in its password.
var secretTypes = map[reflect.Type]string{
	reflect.TypeFor[commoncfg.Secret]():           "secret",
	reflect.TypeFor[amcommon.SecretURL]():         "url",
	reflect.TypeFor[amcommon.SecretTemplateURL](): "url",
	reflect.TypeFor[amconfig.SecretTemplateURL](): "url",
	reflect.TypeFor[commoncfg.URL]():              "userinfo",
}

// secretField is a field that holds a secret: its YAML path ("0" is the
// first element of a list, "KEY" a key of a map) and what kind of value it
// takes.
type secretField struct {
	path []string
	kind string
}

// secretFields walks t (a config type) and returns every field that holds a
// secret, by type, under prefix.
func secretFields(t reflect.Type, prefix ...string) []secretField {
	var out []secretField
	var walk func(t reflect.Type, path []string, depth int)
	walk = func(t reflect.Type, path []string, depth int) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if kind, ok := secretTypes[t]; ok {
			out = append(out, secretField{path: slices.Clone(path), kind: kind})
			return
		}
		if depth > 12 {
			return
		}
		switch t.Kind() {
		case reflect.Struct:
			for i := range t.NumField() {
				f := t.Field(i)
				name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				switch {
				case !f.IsExported() || name == "-":
				case strings.Contains(opts, "inline"):
					walk(f.Type, path, depth+1)
				case name != "":
					walk(f.Type, append(path, name), depth+1)
				}
			}
		case reflect.Slice:
			walk(t.Elem(), append(path, "0"), depth+1)
		case reflect.Map:
			walk(t.Elem(), append(path, "KEY"), depth+1)
		}
	}
	walk(t, prefix, 0)
	return out
}

// upstreamMinimal is, for each kind alerter delivers through
// Alertmanager's notifiers, what an entry needs to be valid: each key is
// added unless the entry already has it or one of the listed alternatives
// (its _file form, say).
var upstreamMinimal = map[string][]struct {
	key   string
	value any
	alts  []string
}{
	"pagerduty_configs": {{"routing_key", "rk", []string{"routing_key_file", "service_key", "service_key_file"}}},
	"opsgenie_configs":  {{"api_key", "k", []string{"api_key_file"}}},
	"victorops_configs": {{"api_key", "k", []string{"api_key_file"}}, {"routing_key", "r", nil}},
	"wechat_configs":    {{"api_secret", "s", []string{"api_secret_file"}}, {"corp_id", "c", nil}},
	"pushover_configs":  {{"user_key", "u", []string{"user_key_file"}}, {"token", "t", []string{"token_file"}}},
	"sns_configs":       {{"topic_arn", "arn:aws:sns:us-east-1:123456789012:t", nil}},
	"telegram_configs":  {{"bot_token", "b", []string{"bot_token_file"}}, {"chat_id", 1, []string{"chat_id_file"}}},
	"discord_configs":   {{"webhook_url", "http://127.0.0.1:1/discord", []string{"webhook_url_file"}}},
	"webex_configs": {{"room_id", "r", nil}, {"http_config.authorization", map[string]any{"credentials": "c"},
		[]string{"http_config.basic_auth", "http_config.oauth2", "http_config.bearer_token", "http_config.bearer_token_file"}}},
	"msteams_configs":    {{"webhook_url", "http://127.0.0.1:1/teams", []string{"webhook_url_file"}}},
	"msteamsv2_configs":  {{"webhook_url", "http://127.0.0.1:1/teams2", []string{"webhook_url_file"}}},
	"jira_configs":       {{"api_url", "http://127.0.0.1:1/jira", nil}, {"project", "P", nil}, {"issue_type", "Bug", nil}},
	"rocketchat_configs": {{"token_id", "i", []string{"token_id_file"}}, {"token", "t", []string{"token_file"}}},
	"incidentio_configs": {{"url", "http://127.0.0.1:1/io", []string{"url_file"}}, {"alert_source_token", "a", []string{"alert_source_token_file", "http_config.authorization", "http_config.bearer_token", "http_config.bearer_token_file"}}},
	"mattermost_configs": {{"webhook_url", "http://127.0.0.1:1/mm", []string{"webhook_url_file"}}},
}

// receiverKinds are the receiver kinds alerter delivers to: all of
// Alertmanager's.
var receiverKinds = func() []string {
	kinds := []string{"email_configs", "slack_configs", "webhook_configs"}
	for k := range upstreamMinimal {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}()

// allSecretFields returns the secret-bearing fields of alerter.yml: the
// Alertmanager globals, the receivers of every kind, and
// the datasources (their url's password and http_config).
func allSecretFields() (globals, receivers, datasources []secretField) {
	for _, f := range secretFields(reflect.TypeFor[amconfig.Config]()) {
		switch {
		case f.path[0] == "global":
			globals = append(globals, f)
		case f.path[0] == "receivers" && slices.Contains(receiverKinds, f.path[2]):
			receivers = append(receivers, f)
		}
	}
	datasources = append(secretFields(reflect.TypeFor[commoncfg.HTTPClientConfig](), "http_config"),
		secretField{path: []string{"url"}, kind: "userinfo"})
	return globals, receivers, datasources
}

// marker is the secret value of field i, which must never be seen.
func marker(i int) string { return fmt.Sprintf("S3CR3T%03dX", i) }

var markerRe = regexp.MustCompile(`S3CR3T\d{3}X`)

// keyPair is a certificate and its private key, PEM-encoded, made once:
// inline tls_config keys must be real keys for alerter to start.
var keyPair = sync.OnceValues(func() (cert, key string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "alerter test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		panic(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
})

func markerValue(f secretField, i int) string {
	if last := f.path[len(f.path)-1]; last == "key" || last == "client_certificate_key" {
		// A real key, with the marker in a PEM header line.
		_, key := keyPair()
		return strings.Replace(key, "-----\n", "-----\nX-Marker: "+marker(i)+"\n\n", 1)
	}
	switch f.kind {
	case "url":
		return "http://127.0.0.1:1/" + marker(i)
	case "userinfo":
		return "http://user:" + marker(i) + "@127.0.0.1:1/"
	}
	return marker(i)
}

// set puts v at path in the YAML tree m (maps and lists made as needed),
// then adds what the fields along the path need next to them to be valid.
func set(m map[string]any, path []string, v any) {
	type step struct {
		parent map[string]any
		key    string
	}
	var steps []step
	cur := any(m)
	for i, p := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			if p == "KEY" {
				p = "X-Marker"
			}
			_, ok := c[p]
			switch {
			case last:
				c[p] = v
			case !ok && path[i+1] == "0":
				c[p] = []any{map[string]any{}}
			case !ok:
				c[p] = map[string]any{}
			}
			steps = append(steps, step{c, p})
			cur = c[p]
		case []any:
			if last {
				c[0] = v
			}
			cur = c[0]
		}
	}
	for i := len(steps) - 1; i >= 0; i-- {
		siblings(steps[i].parent, steps[i].key)
	}
}

// siblings adds what a field needs next to it to be valid.
func siblings(parent map[string]any, key string) {
	if parent == nil {
		return
	}
	add := func(k string, v any) {
		if _, ok := parent[k]; !ok {
			parent[k] = v
		}
	}
	switch key {
	case "oauth2":
		o := parent["oauth2"].(map[string]any)
		if _, ok := o["client_id"]; !ok {
			o["client_id"] = "id"
			o["token_url"] = "http://127.0.0.1:1/token"
		}
	case "key":
		cert, _ := keyPair()
		add("cert", cert)
	case "client_certificate_key":
		add("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
	case "sigv4":
		sv := parent["sigv4"].(map[string]any)
		if _, ok := sv["access_key"]; !ok {
			sv["access_key"] = "AKIDEXAMPLE"
		}
	case "proxy_connect_header":
		add("proxy_url", "http://127.0.0.1:1/")
	case "email_configs":
		e := parent["email_configs"].([]any)[0].(map[string]any)
		for k, v := range map[string]any{"to": "ops@example.org", "from": "alerter@example.org", "smarthost": "127.0.0.1:1", "require_tls": false, "auth_username": "alerter"} {
			if _, ok := e[k]; !ok {
				e[k] = v
			}
		}
	case "slack_configs":
		s := parent["slack_configs"].([]any)[0].(map[string]any)
		if _, ok := s["channel"]; !ok {
			s["channel"] = "#ops"
		}
		_, url := s["api_url"]
		_, token := s["app_token"]
		if !url && !token {
			s["api_url"] = "http://127.0.0.1:1/slack"
		}
	case "webhook_configs":
		w := parent["webhook_configs"].([]any)[0].(map[string]any)
		if _, ok := w["url"]; !ok {
			w["url"] = "http://127.0.0.1:1/hook"
		}
	default:
		needs, ok := upstreamMinimal[key]
		if !ok {
			return
		}
		e := parent[key].([]any)[0].(map[string]any)
	next:
		for _, n := range needs {
			for _, k := range append([]string{n.key}, n.alts...) {
				outer, inner, nested := strings.Cut(k, ".")
				v, ok := e[outer]
				if ok && nested {
					m, _ := v.(map[string]any)
					_, ok = m[inner]
				}
				if ok {
					continue next
				}
			}
			if outer, inner, nested := strings.Cut(n.key, "."); nested {
				m, _ := e[outer].(map[string]any)
				if m == nil {
					m = map[string]any{}
					e[outer] = m
				}
				m[inner] = n.value
				continue
			}
			e[n.key] = n.value
		}
	}
}

// secretConfigs returns configurations that together put a marker in every
// secret-bearing field: receivers and datasources each get their own entry
// in one config; globals, which exclude one another (basic_auth and
// authorization, slack_api_url and slack_app_token), are packed into as
// few configs as Parse accepts.
func secretConfigs(t *testing.T) (cfgs []map[string]any, fields int) {
	t.Helper()
	globals, receivers, datasources := allSecretFields()
	dir := t.TempDir()
	base := func() map[string]any {
		return map[string]any{
			"global": map[string]any{"evaluation_interval": "1s"},
			"route":  map[string]any{"receiver": "r000", "group_wait": "1h"},
		}
	}
	parses := func(m map[string]any) error {
		b, err := yaml.Marshal(m)
		require.NoError(t, err)
		_, err = config.Parse(filepath.Join(dir, "alerter.yml"), b)
		return err
	}
	n := 0
	main := base()
	var rcvs, dss []any
	var groups []any
	for _, f := range receivers {
		name := fmt.Sprintf("r%03d", n)
		r := map[string]any{"name": name}
		set(r, f.path[2:], markerValue(f, n))
		if f.path[2] == "webex_configs" && len(f.path) > 5 && (f.path[5] == "basic_auth" || f.path[5] == "oauth2") {
			// Webex needs http_config.authorization, which excludes
			// these: no valid config can hold them.
			continue
		}
		require.NoError(t, parses(withReceiver(base(), r)), "receiver field %s", strings.Join(f.path, "."))
		rcvs = append(rcvs, r)
		n++
	}
	for _, f := range datasources {
		name := fmt.Sprintf("ds%03d", n)
		d := map[string]any{"name": name, "type": "prometheus", "url": "http://127.0.0.1:1/"}
		set(d, f.path, markerValue(f, n))
		groups = append(groups, map[string]any{"name": name, "datasource": name, "rules": []any{map[string]any{"alert": "A" + name, "expr": "up"}}})
		dss = append(dss, d)
		n++
	}
	main["receivers"], main["datasources"] = rcvs, dss
	main["rule_files"] = []any{"rules.yml"}
	main["_rules"] = map[string]any{"groups": groups}
	cfgs = append(cfgs, main)

	// Every global in the first config that takes it; receivers that use
	// the globals (email, Slack, webhook with the global http_config).
	globalBase := func() map[string]any {
		m := base()
		m["receivers"] = []any{
			map[string]any{"name": "r000", "webhook_configs": []any{map[string]any{"url": "http://127.0.0.1:1/hook"}}},
			map[string]any{"name": "mail", "email_configs": []any{map[string]any{"to": "ops@example.org", "from": "a@example.org", "smarthost": "127.0.0.1:1", "require_tls": false, "auth_username": "a"}}},
		}
		return m
	}
	var packs []map[string]any
next:
	for _, f := range globals {
		v := markerValue(f, n)
		n++
		for _, p := range packs {
			trial := deepCopy(p)
			set(trial, f.path, v)
			if parses(trial) == nil {
				set(p, f.path, v)
				continue next
			}
		}
		p := globalBase()
		set(p, f.path, v)
		if f.path[1] == "slack_api_url" || f.path[1] == "slack_app_token" {
			p["receivers"] = append(p["receivers"].([]any), map[string]any{"name": "chat", "slack_configs": []any{map[string]any{"channel": "#ops"}}})
		}
		require.NoError(t, parses(p), "global field %s", strings.Join(f.path, "."))
		packs = append(packs, p)
	}
	return append(cfgs, packs...), n
}

func withReceiver(m map[string]any, r map[string]any) map[string]any {
	r0 := deepCopy(r)
	r0["name"] = "r000"
	m["receivers"] = []any{r0}
	return m
}

func deepCopy(m map[string]any) map[string]any {
	b, _ := yaml.Marshal(m)
	var out map[string]any
	_ = yaml.Unmarshal(b, &out)
	return out
}

// TestNoSecretOnAnySurface puts a marker in every secret-bearing field of
// the configuration (found by walking Alertmanager's and Prometheus' config
// types, not by key name) and looks for the markers everywhere a user or an
// attacker can see: /api/v2/status (amtool config show), /api/v2/receivers,
// the UI pages, /metrics, /api/v1/rules and the notification history after
// failed queries and deliveries, receiver tests, the log, the CLI (check
// config, routes show, receivers test) and the errors of broken configs.
func TestNoSecretOnAnySurface(t *testing.T) {
	t.Parallel()
	cfgs, fields := secretConfigs(t)
	require.Greater(t, fields, 250, "the walk found the secret-bearing fields of every receiver kind")
	t.Logf("%d secret-bearing fields in %d configurations", fields, len(cfgs))
	bin := testutil.AlerterBinary(t)
	for i, m := range cfgs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if r, ok := m["_rules"]; ok {
				b, err := yaml.Marshal(r)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yml"), b, 0o600))
				delete(m, "_rules")
			}
			b, err := yaml.Marshal(m)
			require.NoError(t, err)
			cfgPath := filepath.Join(dir, "alerter.yml")
			require.NoError(t, os.WriteFile(cfgPath, b, 0o600))
			require.Regexp(t, markerRe, string(b))

			var seen []string
			look := func(surface, text string) {
				if loc := markerRe.FindStringIndex(text); loc != nil {
					seen = append(seen, fmt.Sprintf("%s: …%s…", surface, text[max(0, loc[0]-80):min(len(text), loc[1]+20)]))
				}
			}
			cli := func(args ...string) string {
				p := testutil.Start(t, bin, args...)
				p.Wait(t, 60*time.Second)
				return p.Output()
			}
			look("check config", cli("check", "config", cfgPath))
			look("routes show", cli("routes", "show", "--config.file="+cfgPath))
			var names []string
			for _, r := range m["receivers"].([]any) {
				names = append(names, r.(map[string]any)["name"].(string))
			}
			look("receivers test", cli("receivers", "test", "--config.file="+cfgPath, names[len(names)-1]))

			a := startAlerterIn(t, dir, "")
			for _, name := range names {
				code, body := post(t, a.url+"/api/v1/receivers/"+name+"/test")
				require.Equal(t, http.StatusOK, code, body)
				look("POST /api/v1/receivers/"+name+"/test", body)
			}
			if _, ok := m["datasources"]; ok {
				testutil.Eventually(t, 20*time.Second, 100*time.Millisecond, func() bool {
					_, body, err := testutil.Get(a.url + "/api/v1/rules")
					return err == nil && strings.Count(string(body), `"health":"err"`) >= len(m["datasources"].([]any))
				}, "every datasource's query failed")
			}
			for _, p := range []string{"/api/v2/status", "/api/v2/receivers", "/api/v1/rules", "/api/v1/alerts",
				"/api/v1/notifications", "/metrics", "/", "/status", "/rules", "/routes", "/notifications"} {
				code, body, err := testutil.Get(a.url + p)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, code, p)
				look(p, string(body))
			}
			_, status, _ := testutil.Get(a.url + "/api/v2/status")
			require.Contains(t, string(status), "\\u003csecret\\u003e", "secrets shown as <secret>")

			// A broken file next to the secrets: the reload's error.
			require.NoError(t, os.WriteFile(cfgPath, append(b, []byte("unknown_section: {}\n")...), 0o600))
			code, body := post(t, a.url+"/-/reload")
			require.Equal(t, http.StatusInternalServerError, code)
			look("reload error", body)
			a.Signal(t, syscall.SIGTERM)
			a.Wait(t, 30*time.Second)
			look("log", a.Output())
			require.Empty(t, seen, "secrets shown")
		})
	}
}

// TestCheckConfigBuildsClients: check config refuses what start-up refuses
// when it builds the integrations and query clients (an inline TLS key that
// is not one), without showing the key.
func TestCheckConfigBuildsClients(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "alerter.yml")
	cert, _ := keyPair()
	cfg := map[string]any{
		"route": map[string]any{"receiver": "r"},
		"receivers": []any{map[string]any{"name": "r", "webhook_configs": []any{map[string]any{
			"url": "http://127.0.0.1:1/", "http_config": map[string]any{"tls_config": map[string]any{"cert": cert, "key": marker(1)}},
		}}}},
	}
	b, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	c := testutil.Start(t, testutil.AlerterBinary(t), "check", "config", p)
	require.Equal(t, 1, c.Wait(t, 30*time.Second))
	require.Contains(t, c.Output(), `receiver "r": webhook_configs 0: unable to use specified client cert (inline) & key (inline)`)
	require.NotRegexp(t, markerRe, c.Output())
}
