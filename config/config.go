// Package config loads and validates alerter.yml: globals, datasources and
// the rule files they apply to, plus the Alertmanager-format sections that
// the routing half reads.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Datasource types.
const (
	TypePrometheus = "prometheus"
	TypeEmbedded   = "embedded"
)

// Defaults, as in Prometheus where Prometheus has the setting.
const (
	DefaultEvaluationInterval    = time.Minute
	DefaultResendDelay           = time.Minute
	DefaultEvaluationConcurrency = 8
	DefaultQueryTimeout          = 30 * time.Second
	DefaultScrapeInterval        = 15 * time.Second
	DefaultRetention             = 24 * time.Hour
)

// Config is a loaded alerter.yml. Its fields are set once by Load and not
// changed afterwards.
type Config struct {
	Global      Global       `yaml:"global"`
	Datasources []Datasource `yaml:"datasources"`
	RuleFiles   []string     `yaml:"rule_files"`
	Templates   []string     `yaml:"templates"`
	// Storage is where the state lives; read at start only.
	Storage Storage `yaml:"storage"`

	// The Alertmanager sections as written; Routing is what they decode to.
	Route             yaml.Node `yaml:"route"`
	Receivers         yaml.Node `yaml:"receivers"`
	InhibitRules      yaml.Node `yaml:"inhibit_rules"`
	TimeIntervals     yaml.Node `yaml:"time_intervals"`
	MuteTimeIntervals yaml.Node `yaml:"mute_time_intervals"`

	// Routing is the decoded route, receivers, inhibit_rules and
	// time_intervals; nil when the config has no route.
	Routing *Routing `yaml:"-"`

	// Path is the file the config was read from; Dir its folder, against
	// which relative paths are resolved.
	Path string `yaml:"-"`
	Dir  string `yaml:"-"`
}

// Storage names a PostgreSQL database for the state, as --storage.url
// does (the flag wins); without one the state is in SQLite under
// --storage.path.
type Storage struct {
	// URL is a postgres:// or postgresql:// URL.
	URL string `yaml:"url"`
	// PasswordFile holds the database password (the file's content, a
	// trailing newline dropped), for a URL that has none.
	PasswordFile string `yaml:"password_file"`
}

// Global holds settings that apply everywhere.
type Global struct {
	// EvaluationInterval is the interval of groups that set neither interval nor schedule.
	EvaluationInterval Duration `yaml:"evaluation_interval"`
	// RuleQueryOffset is the query_offset of groups that do not set one.
	RuleQueryOffset Duration `yaml:"rule_query_offset"`
	// ExternalLabels are added to every alert sent on, unless the alert has the label.
	ExternalLabels map[string]string `yaml:"external_labels"`
	// ExternalURL is the URL under which users reach alerter; --web.external-url wins.
	ExternalURL string `yaml:"external_url"`
	// EvaluationConcurrency is how many alerting rules of one group are queried at once.
	EvaluationConcurrency int `yaml:"evaluation_concurrency"`
	// ResendDelay is how often a firing alert is handed on again (Prometheus'
	// --rules.alert.resend-delay).
	ResendDelay Duration `yaml:"resend_delay"`

	// Alertmanager's global settings (smtp_*, slack_api_url, resolve_timeout, ...),
	// checked by name here and read by the routing half.
	Alertmanager map[string]yaml.Node `yaml:",inline"`
}

// Datasource is a query API that rule groups evaluate against.
type Datasource struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`

	// For type prometheus.
	URL     string   `yaml:"url"`
	Timeout Duration `yaml:"timeout"`
	// HTTPConfig is decoded from the http_config node during validation, so
	// that its errors carry a position.
	HTTPConfig     commoncfg.HTTPClientConfig `yaml:"-"`
	HTTPConfigNode yaml.Node                  `yaml:"http_config"`
	// MaxResponseSize bounds the body of an answer (default 32MiB).
	MaxResponseSize ByteSize `yaml:"max_response_size"`
	// RemoteWrite, when set, is where recording rules' samples and the
	// ALERTS and ALERTS_FOR_STATE series go (Prometheus' remote-write
	// protocol); without it recording rules on the datasource are not
	// evaluated.
	RemoteWrite *RemoteWrite `yaml:"remote_write"`
	// ExternalURL is where users open a prometheus datasource in a
	// browser, when not at url; SourceURL a template of the
	// generatorURL of its alerts (SourceLink).
	ExternalURL    string             `yaml:"external_url"`
	SourceURL      string             `yaml:"source_url"`
	sourceTemplate *template.Template `yaml:"-"`

	// For type embedded: series files in promtool notation replayed from
	// start-up, how often alerter's own metrics are recorded, and how long
	// samples are kept.
	SeriesFiles    []string `yaml:"series_files"`
	ScrapeInterval Duration `yaml:"scrape_interval"`
	Retention      Duration `yaml:"retention"`
}

// RemoteWrite is a datasource's remote-write endpoint, in Prometheus'
// field names.
type RemoteWrite struct {
	URL           string            `yaml:"url"`
	RemoteTimeout Duration          `yaml:"remote_timeout"`
	Headers       map[string]string `yaml:"headers"`
	// HTTPConfig is decoded from http_config during validation.
	HTTPConfig     commoncfg.HTTPClientConfig `yaml:"-"`
	HTTPConfigNode yaml.Node                  `yaml:"http_config"`
	QueueConfig    QueueConfig                `yaml:"queue_config"`
}

// reservedRemoteWriteHeaders are the headers remote_write's headers may
// not set, as in Prometheus.
var reservedRemoteWriteHeaders = []string{"Host", "Authorization", "Content-Encoding", "Content-Type",
	"X-Prometheus-Remote-Write-Version", "User-Agent", "Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Www-Authenticate"}

// QueueConfig sizes a remote-write queue, in Prometheus' field names (but
// max_shards is the number of shards, which do not vary); MaxBytes is
// alerter's: the bytes (label names and values) the queue holds at most.
type QueueConfig struct {
	Capacity          int      `yaml:"capacity"`
	MaxShards         int      `yaml:"max_shards"`
	MaxSamplesPerSend int      `yaml:"max_samples_per_send"`
	BatchSendDeadline Duration `yaml:"batch_send_deadline"`
	MinBackoff        Duration `yaml:"min_backoff"`
	MaxBackoff        Duration `yaml:"max_backoff"`
	RetryOnRateLimit  bool     `yaml:"retry_on_http_429"`
	MaxBytes          ByteSize `yaml:"max_bytes"`
}

// alertmanagerGlobals are the names Alertmanager accepts under global.
var alertmanagerGlobals = strings.Fields(`resolve_timeout http_config jira_api_url smtp_from
	smtp_hello smtp_smarthost smtp_auth_username smtp_auth_password smtp_auth_password_file
	smtp_auth_secret smtp_auth_secret_file smtp_auth_identity smtp_require_tls smtp_tls_config
	smtp_force_implicit_tls slack_api_url slack_api_url_file slack_app_token slack_app_token_file
	slack_app_url pagerduty_url opsgenie_api_url opsgenie_api_key opsgenie_api_key_file
	wechat_api_url wechat_api_secret wechat_api_secret_file wechat_api_corp_id victorops_api_url
	victorops_api_key victorops_api_key_file telegram_api_url telegram_bot_token
	telegram_bot_token_file webex_api_url rocketchat_api_url rocketchat_token
	rocketchat_token_file rocketchat_token_id rocketchat_token_id_file mattermost_webhook_url
	mattermost_webhook_url_file`)

// Load reads and validates the config file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse validates content as the config file at path. Every problem found
// is returned, joined, each prefixed with path and line where known. With
// problems the config is nil if the file could not be decoded at all, and
// otherwise returned as far as it was understood, for reporting only.
func Parse(path string, content []byte) (*Config, error) {
	cfg := &Config{Path: path, Dir: filepath.Dir(path)}
	if isEmptyYAML(content) {
		// amtool refuses an empty file too. A configuration emptied by
		// accident (a truncated write) must not silently stop everything.
		return nil, fmt.Errorf("%s: the file is empty: a configuration needs rule_files, a route, or both", path)
	}
	dec := yaml.NewDecoder(bytes.NewReader(content))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, decodeError(path, err)
	}
	// The sections kept as YAML nodes are walked later: refuse aliases
	// that contain themselves or expand without bound first.
	if err := cfg.checkAliases(); err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	errs := cfg.validate()
	routing, rerrs := cfg.decodeRouting()
	errs = append(errs, rerrs...)
	cfg.Routing = routing
	if len(errs) > 0 {
		for i, e := range errs {
			var pe *posError
			if errors.As(e, &pe) {
				errs[i] = fmt.Errorf("%s:%d: %w", path, pe.line, e)
			} else {
				errs[i] = fmt.Errorf("%s: %w", path, e)
			}
		}
		// The config is returned with its problems, so that a check can
		// go on to the rule files it names; it must not be run.
		return cfg, errors.Join(errs...)
	}
	return cfg, nil
}

// posError is a validation error that knows its line.
type posError struct {
	line int
	err  error
}

func (e *posError) Error() string { return e.err.Error() }
func (e *posError) Unwrap() error { return e.err }

func atLine(n *yaml.Node, format string, args ...any) error {
	return &posError{line: n.Line, err: fmt.Errorf(format, args...)}
}

// typeNames turns yaml.v3's Go type names into the section names users see.
var typeNames = strings.NewReplacer(
	"in type config.Config", "in the config file",
	"in type config.Global", "in global",
	"in type config.Datasource", "in a datasource",
	"in type config.plain", "in http_config",
	"in type config.TLSConfig", "in tls_config",
)

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// decodeError rewrites yaml.v3's errors as "path:line: message" lines.
func decodeError(path string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	errs := make([]error, 0, len(msgs))
	for _, m := range msgs {
		m = typeNames.Replace(m)
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			errs = append(errs, fmt.Errorf("%s:%s: %s", path, sm[1], m[len(sm[0]):]))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %s", path, m))
	}
	return errors.Join(errs...)
}

func (c *Config) validate() []error {
	var errs []error
	errs = append(errs, c.Global.applyDefaults()...)
	names := map[string]bool{}
	for i := range c.Datasources {
		ds := &c.Datasources[i]
		for _, err := range ds.validate(c.Dir) {
			errs = append(errs, fmt.Errorf("datasource %d (%q): %w", i+1, ds.Name, err))
		}
		if names[ds.Name] {
			errs = append(errs, fmt.Errorf("datasource %d: name %q is used twice", i+1, ds.Name))
		}
		names[ds.Name] = true
	}
	if u := c.Storage.URL; u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		errs = append(errs, fmt.Errorf("storage.url: want a postgres:// or postgresql:// URL, not %s", redactURL(u)))
	}
	if c.Storage.PasswordFile != "" {
		c.Storage.PasswordFile = resolvePath(c.Dir, c.Storage.PasswordFile)
	}
	for _, pat := range append(slices.Clone(c.RuleFiles), c.Templates...) {
		if _, err := filepath.Match(pat, ""); err != nil {
			errs = append(errs, fmt.Errorf("invalid file pattern %q: %w", pat, err))
		}
	}
	return errs
}

func (g *Global) applyDefaults() []error {
	var errs []error
	if g.EvaluationInterval == 0 {
		g.EvaluationInterval = Duration(DefaultEvaluationInterval)
	}
	if g.ResendDelay == 0 {
		g.ResendDelay = Duration(DefaultResendDelay)
	}
	switch {
	case g.EvaluationConcurrency == 0:
		g.EvaluationConcurrency = DefaultEvaluationConcurrency
	case g.EvaluationConcurrency < 0:
		errs = append(errs, errors.New("global: evaluation_concurrency must be positive"))
	}
	for name, value := range g.ExternalLabels {
		if !model.UTF8Validation.IsValidLabelName(name) || name == model.MetricNameLabel {
			errs = append(errs, fmt.Errorf("global: invalid external label name %q", name))
		}
		if !model.LabelValue(value).IsValid() {
			errs = append(errs, fmt.Errorf("global: invalid external label value %q", value))
		}
	}
	if g.ExternalURL != "" {
		if _, err := ParseExternalURL(g.ExternalURL); err != nil {
			errs = append(errs, fmt.Errorf("global: external_url: %w", err))
		}
	}
	keys := make([]string, 0, len(g.Alertmanager))
	for k := range g.Alertmanager {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(alertmanagerGlobals, k) {
			n := g.Alertmanager[k]
			errs = append(errs, atLine(&n, "field %s not found in global", k))
		}
	}
	return errs
}

func (ds *Datasource) validate(dir string) []error {
	var errs []error
	if ds.Name == "" {
		errs = append(errs, errors.New("name must be set"))
	}
	errs = append(errs, ds.validateLinks()...)
	switch ds.Type {
	case TypePrometheus:
		if ds.URL == "" {
			errs = append(errs, errors.New("url must be set for type prometheus"))
		} else if u, err := url.Parse(ds.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("url %q must be an absolute http or https URL", redactURL(ds.URL)))
		}
		if len(ds.SeriesFiles) > 0 {
			errs = append(errs, errors.New("series_files is only for type embedded"))
		}
		if ds.Timeout == 0 {
			ds.Timeout = Duration(DefaultQueryTimeout)
		}
		if err := ds.decodeHTTPConfig(dir); err != nil {
			errs = append(errs, err)
		}
		if rw := ds.RemoteWrite; rw != nil {
			errs = append(errs, rw.validate(dir)...)
		}
	case TypeEmbedded:
		if ds.RemoteWrite != nil {
			errs = append(errs, errors.New("remote_write is only for type prometheus (an embedded datasource stores the recorded series itself)"))
		}
		if ds.URL != "" {
			errs = append(errs, errors.New("url is not used by type embedded"))
		}
		if ds.MaxResponseSize != 0 {
			errs = append(errs, errors.New("max_response_size is only for type prometheus"))
		}
		if ds.ScrapeInterval == 0 {
			ds.ScrapeInterval = Duration(DefaultScrapeInterval)
		}
		if ds.Retention == 0 {
			ds.Retention = Duration(DefaultRetention)
		}
		for i, f := range ds.SeriesFiles {
			ds.SeriesFiles[i] = resolvePath(dir, f)
		}
	case "":
		errs = append(errs, errors.New("type must be set (prometheus or embedded)"))
	default:
		errs = append(errs, fmt.Errorf("unknown type %q (want prometheus or embedded)", ds.Type))
	}
	return errs
}

// validate checks a remote_write section and fills in its defaults.
func (rw *RemoteWrite) validate(dir string) []error {
	var errs []error
	if u, err := url.Parse(rw.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("remote_write: url %q must be an absolute http or https URL", redactURL(rw.URL)))
	}
	if rw.RemoteTimeout == 0 {
		rw.RemoteTimeout = Duration(30 * time.Second)
	}
	q := rw.QueueConfig
	for _, f := range []struct {
		name string
		v    int64
	}{{"capacity", int64(q.Capacity)}, {"max_shards", int64(q.MaxShards)}, {"max_samples_per_send", int64(q.MaxSamplesPerSend)},
		{"batch_send_deadline", int64(q.BatchSendDeadline)}, {"min_backoff", int64(q.MinBackoff)}, {"max_backoff", int64(q.MaxBackoff)},
		{"max_bytes", int64(q.MaxBytes)}, {"remote_timeout", int64(rw.RemoteTimeout)}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("remote_write: %s must not be negative", f.name))
		}
	}
	if q.MaxBackoff > 0 && q.MinBackoff > q.MaxBackoff {
		errs = append(errs, errors.New("remote_write: min_backoff must not exceed max_backoff"))
	}
	for name := range rw.Headers {
		if slices.Contains(reservedRemoteWriteHeaders, http.CanonicalHeaderKey(name)) {
			errs = append(errs, fmt.Errorf("remote_write: headers: %s is set by alerter (as Prometheus refuses it here); use http_config for authorization", name))
		}
	}
	var err error
	if rw.HTTPConfig, err = decodeHTTPNode(&rw.HTTPConfigNode, dir, "remote_write: http_config"); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// decodeHTTPConfig decodes and checks the http_config node strictly: an
// unknown field is an error, as everywhere else in the file.
func (ds *Datasource) decodeHTTPConfig(dir string) error {
	var err error
	ds.HTTPConfig, err = decodeHTTPNode(&ds.HTTPConfigNode, dir, "http_config")
	return err
}

// decodeHTTPNode decodes the http_config node n (what names it in errors)
// strictly, from Prometheus' defaults (follow redirects, HTTP/2 on).
func decodeHTTPNode(n *yaml.Node, dir, what string) (commoncfg.HTTPClientConfig, error) {
	hc := commoncfg.DefaultHTTPClientConfig
	if n.Kind == 0 {
		return hc, nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return hc, atLine(n, "%s: %v", what, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&hc); err != nil && !errors.Is(err, io.EOF) {
		msg := typeNames.Replace(yamlLine.ReplaceAllString(err.Error(), ""))
		return hc, atLine(n, "%s: %s", what, strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  "))
	}
	hc.SetDirectory(dir)
	return hc, nil
}

// Datasource returns the datasource called name, or the default (first)
// one when name is empty.
func (c *Config) Datasource(name string) (*Datasource, bool) {
	if name == "" {
		if len(c.Datasources) == 0 {
			return nil, false
		}
		return &c.Datasources[0], true
	}
	for i := range c.Datasources {
		if c.Datasources[i].Name == name {
			return &c.Datasources[i], true
		}
	}
	return nil, false
}

// isEmptyYAML reports whether content holds no YAML value at all: nothing,
// white space and comments, or a document that is null.
func isEmptyYAML(content []byte) bool {
	var n yaml.Node
	if err := yaml.Unmarshal(content, &n); err != nil {
		return false // the decoder reports it
	}
	return len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null")
}

// RuleFilePaths expands the rule_files patterns (relative to the config's
// folder) into a sorted list of files without duplicates. A pattern
// without wildcards names one file, which must exist: a rule file that
// disappeared must not make its rules silently stop. A pattern with
// wildcards that matches nothing (a folder that may be empty on purpose)
// is a warning.
func (c *Config) RuleFilePaths() (paths, warnings []string, err error) {
	var errs []error
	for _, pat := range c.RuleFiles {
		matches, err := expand(c.Dir, []string{pat})
		switch {
		case err != nil:
			errs = append(errs, err)
		case len(matches) > 0:
		case hasWildcard(pat):
			warnings = append(warnings, fmt.Sprintf("rule_files: %q matches no file", pat))
		default:
			errs = append(errs, fmt.Errorf("rule_files: %s does not exist", resolvePath(c.Dir, pat)))
		}
	}
	if len(errs) > 0 {
		return nil, warnings, errors.Join(errs...)
	}
	paths, err = expand(c.Dir, c.RuleFiles)
	return paths, warnings, err
}

// hasWildcard reports whether a file pattern has a character that
// filepath.Match treats specially.
func hasWildcard(pat string) bool { return strings.ContainsAny(pat, `*?[\`) }

// HasRoute reports whether the config has a route section, i.e. whether
// alerts are sent anywhere.
func (c *Config) HasRoute() bool {
	return c.Route.Kind != 0 && (c.Route.Kind != yaml.ScalarNode || c.Route.Tag != "!!null")
}

func expand(dir string, patterns []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, pat := range patterns {
		matches, err := filepath.Glob(resolvePath(dir, pat))
		if err != nil {
			return nil, fmt.Errorf("invalid file pattern %q: %w", pat, err)
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// ParseExternalURL checks an external URL: absolute, http or https.
func ParseExternalURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http or https URL", s)
	}
	return u, nil
}

// redactURL hides a URL's password and query values, which may hold secrets.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable URL>"
	}
	return RedactURL(u)
}

// RedactURL returns u with its password and query values hidden.
func RedactURL(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
}
