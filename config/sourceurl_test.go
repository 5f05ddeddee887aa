package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSourceLinks: the default generatorURL of a prometheus datasource is
// its graph of the expression (at external_url when set), of an embedded
// one the rule on alerter's rules page; a source_url template replaces
// either, with its functions; a template that cannot run, or that does not
// make an http(s) URL, fails at load with the datasource's name.
func TestSourceLinks(t *testing.T) {
	cfg, err := Parse("alerter.yml", []byte(`
datasources:
  - {name: prom, type: prometheus, url: 'http://prom:9090/'}
  - {name: behind, type: prometheus, url: 'http://10.0.0.1:9090', external_url: 'https://prom.example.com/'}
  - {name: local, type: embedded}
  - {name: secret, type: prometheus, url: 'http://user:pass@prom:9090/p?token=x'}
  - name: grafana
    type: prometheus
    url: 'http://prom:9090'
    source_url: '{{.ExternalURL}}/x?left={{ json .Expr | queryEscape }}&ds={{ .Datasource | queryEscape }}&r={{ .Rule | pathEscape }}'
`))
	require.NoError(t, err)
	d := SourceData{Expr: `up{job="a b"} == 0`, Rule: "Down/Now", Group: "g", ExternalURL: "http://alerter:9095/"}
	for name, want := range map[string]string{
		"prom":    "http://prom:9090/graph?g0.expr=up%7Bjob%3D%22a+b%22%7D+%3D%3D+0&g0.tab=1",
		"behind":  "https://prom.example.com/graph?g0.expr=up%7Bjob%3D%22a+b%22%7D+%3D%3D+0&g0.tab=1",
		"local":   "http://alerter:9095/rules?q=Down%2FNow",
		"secret":  "http://prom:9090/p/graph?g0.expr=up%7Bjob%3D%22a+b%22%7D+%3D%3D+0&g0.tab=1",
		"grafana": "http://alerter:9095/x?left=%22up%7Bjob%3D%5C%22a+b%5C%22%7D+%3D%3D+0%22&ds=http%3A%2F%2Fprom%3A9090&r=Down%2FNow",
	} {
		ds, ok := cfg.Datasource(name)
		require.True(t, ok)
		got, err := ds.SourceLink(d)
		require.NoError(t, err)
		require.Equal(t, want, got, name)
	}

	for _, tc := range []struct{ tmpl, want string }{
		{`{{.Expr`, `source_url: template: source_url:1: unclosed action`},
		{`{{.Nope}}`, `can't evaluate field Nope`},
		{`/graph?g0.expr={{.Expr}}`, `source_url: gives "/graph?g0.expr=rate`},
		{`{{ nosuch .Expr }}`, `function "nosuch" not defined`},
	} {
		_, err := Parse("alerter.yml", []byte("datasources:\n  - {name: p, type: prometheus, url: 'http://prom:9090', source_url: '"+tc.tmpl+"'}\n"))
		require.ErrorContains(t, err, tc.want, tc.tmpl)
		require.ErrorContains(t, err, `"p"`, "the error names the datasource")
	}
	// .Datasource is empty for an embedded datasource: a link made of it
	// alone is refused at load.
	_, err = Parse("alerter.yml", []byte("datasources:\n  - {name: l, type: embedded, source_url: '{{.Datasource}}/x'}\n"))
	require.ErrorContains(t, err, `gives "/x" for an example rule`)
	_, err = Parse("alerter.yml", []byte("datasources:\n  - {name: l, type: embedded, external_url: 'http://x'}\n"))
	require.ErrorContains(t, err, "external_url is only for type prometheus")
}
