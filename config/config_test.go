package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLoadGood(t *testing.T) {
	cfg, err := Load("testdata/good.yml")
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, time.Duration(cfg.Global.EvaluationInterval))
	require.Equal(t, DefaultResendDelay, time.Duration(cfg.Global.ResendDelay))
	require.Equal(t, map[string]string{"cluster": "eu1"}, cfg.Global.ExternalLabels)
	require.Contains(t, cfg.Global.Alertmanager, "smtp_smarthost")
	require.Len(t, cfg.Datasources, 2)
	ds, ok := cfg.Datasource("")
	require.True(t, ok)
	require.Equal(t, "prom", ds.Name)
	require.Equal(t, 10*time.Second, time.Duration(ds.Timeout))
	require.True(t, ds.HTTPConfig.FollowRedirects, "Prometheus' HTTP defaults apply")
	require.True(t, ds.HTTPConfig.EnableHTTP2)
	require.Equal(t, "u", ds.HTTPConfig.BasicAuth.Username)
	local, ok := cfg.Datasource("local")
	require.True(t, ok)
	require.Equal(t, []string{"testdata/series/*.yml"}, local.SeriesFiles)
	require.Equal(t, DefaultScrapeInterval, time.Duration(local.ScrapeInterval))
	require.True(t, cfg.HasRoute())
	_, ok = cfg.Datasource("nope")
	require.False(t, ok)
}

func TestLoadBad(t *testing.T) {
	_, err := Load("testdata/bad.yml")
	require.Error(t, err)
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{
		"testdata/bad.yml:2: field evaluation_intervall not found in global",
	} {
		require.Contains(t, msg, want)
	}
}

func TestValidateBad(t *testing.T) {
	// The same file without the misspelt key reaches validation.
	b := `
global:
  bogus_key: 1
datasources:
  - name: prom
    type: prometheus
    url: ftp://user:secret@x
  - name: prom
    type: nosuch
  - type: embedded
    url: http://a
  - name: p2
    type: prometheus
    url: http://a
    http_config:
      bearer_token: x
      bearer_token_file: y
rule_files: ['[']
`
	_, err := Parse("alerter.yml", []byte(b))
	require.Error(t, err)
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{
		"alerter.yml:3: field bogus_key not found in global",
		`alerter.yml: datasource 1 ("prom"): url "ftp://user:xxxxx@x" must be an absolute http or https URL`,
		`alerter.yml: datasource 2: name "prom" is used twice`,
		`alerter.yml: datasource 2 ("prom"): unknown type "nosuch"`,
		`alerter.yml: datasource 3 (""): name must be set`,
		`alerter.yml: datasource 3 (""): url is not used by type embedded`,
		`alerter.yml:16: datasource 4 ("p2"): http_config: at most one of bearer_token & bearer_token_file must be configured`,
		`alerter.yml: invalid file pattern "["`,
	} {
		require.Contains(t, msg, want)
	}
	require.NotContains(t, msg, "secret")
}

// TestEmptyConfig: an empty file is an error (amtool refuses one too); a
// file with only an empty global section is a config with defaults.
func TestEmptyConfig(t *testing.T) {
	for _, content := range []string{"", "\n\n", "# only a comment\n", "---\n", "~\n", "null\n"} {
		_, err := Parse("a.yml", []byte(content))
		require.EqualError(t, err, "a.yml: the file is empty: a configuration needs rule_files, a route, or both", "%q", content)
	}
	cfg, err := Parse("a.yml", []byte("global: {}\n"))
	require.NoError(t, err)
	require.False(t, cfg.HasRoute())
	require.Equal(t, DefaultEvaluationInterval, time.Duration(cfg.Global.EvaluationInterval))
	require.Empty(t, cfg.Datasources)
}

func TestUnknownTopLevel(t *testing.T) {
	_, err := Parse("a.yml", []byte("datasourcs: []\n"))
	require.Error(t, err)
	require.True(t, strings.HasPrefix(err.Error(), "a.yml:1: field datasourcs not found in the config file"), err.Error())
}

func TestMaxResponseSize(t *testing.T) {
	cfg, err := Parse("a.yml", []byte("datasources:\n  - {name: p, type: prometheus, url: 'http://p:9090', max_response_size: 64MiB}\n"))
	require.NoError(t, err)
	require.Equal(t, ByteSize(64<<20), cfg.Datasources[0].MaxResponseSize)
	for content, want := range map[string]string{
		"datasources:\n  - {name: p, type: prometheus, url: 'http://p:9090', max_response_size: lots}\n": `a.yml:2: invalid size "lots": want a number with a unit, such as 32MiB`,
		"datasources:\n  - {name: e, type: embedded, max_response_size: 1MiB}\n":                         `max_response_size is only for type prometheus`,
	} {
		_, err := Parse("a.yml", []byte(content))
		require.ErrorContains(t, err, want)
	}
}
