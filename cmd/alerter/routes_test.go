package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter/internal/testutil"
)

// routesTestFile is a *.routes-test.yaml of the corpus: amtool 0.25's
// routing tree and receivers for label sets, on one Alertmanager config.
type routesTestFile struct {
	Config     string `yaml:"config"`
	RoutesShow string `yaml:"routes_show"`
	Cases      []struct {
		Labels    map[string]string `yaml:"labels"`
		Receivers []string          `yaml:"receivers"`
	} `yaml:"cases"`
}

// labelArgs writes a label set as label="value" arguments, sorted.
func labelArgs(lset map[string]string) []string {
	args := make([]string, 0, len(lset))
	for k, v := range lset {
		args = append(args, k+"="+strconv.Quote(v))
	}
	sort.Strings(args)
	return args
}

// TestRoutesCorpus checks `alerter routes test` and `routes show` against
// every routing case amtool 0.25 recorded in the corpus.
func TestRoutesCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testutil.CorpusDir(t), "alertmanager-configs", "*", "*.routes-test.yaml"))
	require.NoError(t, err)
	require.Len(t, files, 8)
	cases := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var rt routesTestFile
		require.NoError(t, yaml.Unmarshal(b, &rt))
		cfg := filepath.Join(filepath.Dir(f), rt.Config)

		code, stdout, stderr := runCLI(t, "routes", "show", "--config.file="+cfg)
		require.Equal(t, exitOK, code, stderr)
		require.Equal(t, rt.RoutesShow+"\n", stdout, "%s: routes show", rt.Config)

		for _, c := range rt.Cases {
			cases++
			want := strings.Join(c.Receivers, ",")
			args := append([]string{"routes", "test", "--config.file=" + cfg, "--verify.receivers=" + want}, labelArgs(c.Labels)...)
			code, stdout, stderr := runCLI(t, args...)
			require.Equal(t, exitOK, code, "%s %v: %s%s", rt.Config, c.Labels, stdout, stderr)
			require.Equal(t, want+"\n", stdout, "%s %v", rt.Config, c.Labels)
		}
	}
	require.Equal(t, 58, cases)
}

func TestRoutesCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "am.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(`route:
  receiver: default
  routes:
    - matchers: [team="a"]
      receiver: a
      continue: true
    - matchers: [team=~"a|b"]
      receiver: ab
receivers:
  - name: default
  - name: a
    pagerduty_configs: [{routing_key: x}]
  - name: ab
`), 0o600))

	code, stdout, _ := runCLI(t, "routes", "test", "--config.file="+cfg, "team=a")
	require.Equal(t, exitOK, code)
	require.Equal(t, "a,ab\n", stdout)
	code, stdout, _ = runCLI(t, "routes", "test", "team=b", "--config.file="+cfg, "--verify.receivers=ab")
	require.Equal(t, exitOK, code, "flags may follow the labels, as in amtool")
	require.Equal(t, "ab\n", stdout)
	code, stdout, _ = runCLI(t, "routes", "test", "--config.file="+cfg, "--verify.receivers=a", "team=b")
	require.Equal(t, exitProblems, code)
	require.Equal(t, "ab\nWARNING: Expected receivers did not match resolved receivers.\n", stdout)
	code, _, stderr := runCLI(t, "routes", "test", "--config.file="+cfg, "team!=b")
	require.Equal(t, exitProblems, code)
	require.Equal(t, "alerter routes test: failed to parse labels: labels must be specified as key=value pairs\n", stderr)
	code, stdout, _ = runCLI(t, "routes", "test", "--config.file="+cfg, "--tree", "team=c")
	require.Equal(t, exitOK, code)
	require.Equal(t, "Matching routes:\n.\n└── default-route  receiver: default\n\n\ndefault\n", stdout)
	code, stdout, _ = runCLI(t, "routes", "--config.file="+cfg)
	require.Equal(t, exitOK, code)
	require.Equal(t, "Routing tree:\n.\n└── default-route  receiver: default\n    ├── {team=\"a\"}  continue: true  receiver: a\n    └── {team=~\"a|b\"}  receiver: ab\n\n", stdout)

	for _, args := range [][]string{{"routes", "test"}, {"routes", "frob"}, {"routes", "show", "--config.file=" + cfg, "x=y"}, {"routes", "test", "--nope"}} {
		code, _, _ := runCLI(t, args...)
		require.Equal(t, exitUsage, code, "%v", args)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "noroute.yml"), []byte("receivers: [{name: a}]\n"), 0o600))
	code, _, stderr = runCLI(t, "routes", "test", "--config.file="+filepath.Join(dir, "noroute.yml"))
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, "has no route")

	// check config judges the PagerDuty receiver as Alertmanager does.
	code, _, stderr = runCLI(t, "check", "config", cfg)
	require.Equal(t, exitOK, code, stderr)
	require.NoError(t, os.WriteFile(cfg, []byte("route: {receiver: a}\nreceivers:\n  - name: a\n    pagerduty_configs: [{severity: x}]\n"), 0o600))
	code, _, stderr = runCLI(t, "check", "config", cfg)
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, cfg+`:4: receiver "a": pagerduty_configs[0]: missing service or routing key in PagerDuty config`)
}

// amtoolConfigs are routing trees written to find differences between
// alerter and amtool 0.25: continue at several depths, nested routes,
// anchored and unanchored regexes, legacy match/match_re, group_by forms,
// empty-value matchers and UTF-8 values. Each comes with the values tried
// per label ("" = label absent); every combination is tested.
var amtoolConfigs = []struct {
	name, yaml string
	values     map[string][]string
}{
	{"continue-nested", `
route:
  receiver: root
  group_by: [alertname]
  routes:
    - matchers: [team="a"]
      receiver: a
      continue: true
      group_by: ['...']
      routes:
        - matchers: [severity="critical"]
          receiver: a-pager
        - matchers: [severity=~"warn.*"]
          receiver: a-warn
          continue: true
        - matchers: [env!="prod"]
          receiver: a-nonprod
    - matchers: [team=~"a|b"]
      receiver: ab
      group_by: []
      routes:
        - matchers: [severity!~"info|debug"]
          receiver: ab-loud
          continue: true
        - match: {env: prod}
          receiver: ab-prod
    - match: {env: prod}
      receiver: prod
      continue: true
    - match_re: {service: 'api-.*'}
      receiver: api
      group_by: [service, env]
receivers: [{name: root}, {name: a}, {name: a-pager}, {name: a-warn}, {name: a-nonprod}, {name: ab}, {name: ab-loud}, {name: ab-prod}, {name: prod}, {name: api}]
`, map[string][]string{
		"team": {"", "a", "b", "c"}, "severity": {"", "critical", "warning", "info", "debug"},
		"env": {"", "prod", "dev"}, "service": {"", "api-x", "web"},
	}},
	{"regex", `
route:
  receiver: root
  routes:
    - match_re: {instance: '^db-\d+$'}
      receiver: db
    - matchers: ['instance=~"web-[0-9]+|cache"', 'zone!~"eu-.*"']
      receiver: web
    - matchers: ['owner=""']
      receiver: unowned
      continue: true
    - matchers: ['owner=~".+"', 'owner!="nobody"']
      receiver: owned
    - matchers: ['job=~"(node|blackbox)_?exporter"']
      receiver: exporters
receivers: [{name: root}, {name: db}, {name: web}, {name: unowned}, {name: owned}, {name: exporters}]
`, map[string][]string{
		"instance": {"", "db-1", "db-x", "xdb-1", "web-12", "cache", "cache2"},
		"zone":     {"", "eu-west", "us-east"}, "owner": {"", "nobody", "me"},
		"job": {"", "node_exporter", "nodeexporter", "blackbox"},
	}},
	{"utf8-values", `
route:
  receiver: root
  routes:
    - matchers: ['msg="héllo wörld ✓"']
      receiver: hello
    - matchers: ['path=~"/api/v[12]/.*"', 'quote="a\"b"']
      receiver: api-quote
    - matchers: ['path=~"/api/.*"']
      receiver: api
    - matchers: ['name=~"日本.*"']
      receiver: japan
      continue: true
    - matchers: [name!="日本語"]
      receiver: not-exact
receivers: [{name: root}, {name: hello}, {name: api-quote}, {name: api}, {name: japan}, {name: not-exact}]
`, map[string][]string{
		"msg": {"", "héllo wörld ✓", "hello world"}, "path": {"", "/api/v1/x", "/api/v3/x", "/web"},
		"quote": {"", `a"b`, "ab"}, "name": {"", "日本語", "日本", "中文"},
	}},
	{"label-args", `
route:
  receiver: root
  routes:
    - matchers: ['v="bar}"']
      receiver: brace
    - matchers: ['v="a=b"']
      receiver: equals
    - matchers: ['v="=bar"']
      receiver: double-equals
    - matchers: ['v="bar baz"']
      receiver: space
    - matchers: ['v=""']
      receiver: empty
receivers: [{name: root}, {name: brace}, {name: equals}, {name: double-equals}, {name: space}, {name: empty}]
`, nil},
}

// amtoolLabelArgs are label arguments written by hand, valid and invalid,
// to compare how amtool and alerter read them.
var amtoolLabelArgs = [][]string{
	{"v=bar}"}, {"v=a=b"}, {"v==bar"}, {`v="bar baz"`}, {"v=bar baz"}, {" v = bar "}, {"v="}, {`v=""`},
	{"v=x", "v=bar baz"}, {"v!=x"}, {"v=~x"}, {"v"}, {"{v=x}"}, {"v=x,w=y"}, {`v="a\"b"`}, {`v=a"b`},
}

// TestRoutesAgainstAmtool runs the real amtool 0.25 on the configs above
// for every combination of label values, and on the label arguments, and
// requires alerter to print the same receivers, trees and verdicts.
func TestRoutesAgainstAmtool(t *testing.T) {
	amtool := testutil.Program(t, "amtool", "prometheus-alertmanager")
	dir := t.TempDir()
	compared := 0
	for _, c := range amtoolConfigs {
		path := filepath.Join(dir, c.name+".yml")
		require.NoError(t, os.WriteFile(path, []byte(c.yaml), 0o600))
		show := []string{"config", "routes", "show", "--config.file=" + path}
		want, code := runAmtool(t, amtool, show...)
		require.Equal(t, 0, code, "amtool refused %s: %s", c.name, want)
		_, got, _ := runCLI(t, "routes", "show", "--config.file="+path)
		require.Equal(t, want, got, "%s: routes show", c.name)

		argSets := labelCombinations(c.values)
		if c.values == nil {
			argSets = amtoolLabelArgs
		}
		tests := make([][]string, len(argSets))
		for i, args := range argSets {
			tests[i] = append([]string{"config", "routes", "test", "--config.file=" + path}, args...)
			if i%7 == 0 {
				tests[i] = append(tests[i], "--tree")
			}
		}
		for i, r := range runAmtoolMany(t, amtool, tests) {
			gotCode, got, _ := runCLI(t, append([]string{"routes", "test"}, tests[i][3:]...)...)
			require.Equal(t, r.code, gotCode, "%s %q: amtool said %q, alerter %q", c.name, argSets[i], r.stdout, got)
			require.Equal(t, r.stdout, got, "%s %q", c.name, argSets[i])
			compared++
		}
	}
	t.Logf("%d label sets routed the same by amtool 0.25 and alerter", compared)
	require.Greater(t, compared, 500)
}

// TestRoutesUTF8LabelNames records where alerter (Alertmanager 0.35's
// parsers) goes beyond amtool 0.25: UTF-8 label names, quoted, in config
// matchers and label arguments. amtool 0.25 refuses both.
func TestRoutesUTF8LabelNames(t *testing.T) {
	amtool := testutil.Program(t, "amtool", "prometheus-alertmanager")
	path := filepath.Join(t.TempDir(), "utf8.yml")
	require.NoError(t, os.WriteFile(path, []byte(`route:
  receiver: root
  routes:
    - matchers: ['"service.name"="checkout"']
      receiver: checkout
receivers: [{name: root}, {name: checkout}]
`), 0o600))
	out, code := runAmtool(t, amtool, "check-config", path)
	require.Equal(t, 1, code, out)
	code, stdout, stderr := runCLI(t, "routes", "test", "--config.file="+path, `"service.name"=checkout`)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, "checkout\n", stdout)
	// Unquoted names that are not classic ones: amtool 0.25 refuses them,
	// Alertmanager 0.35's UTF-8 parser takes them.
	for _, arg := range []string{"9v=x", "v-w=x", "ü=x"} {
		out, code = runAmtool(t, amtool, "config", "routes", "test", "--config.file="+path, arg)
		require.Equal(t, 1, code, out)
		code, stdout, stderr = runCLI(t, "routes", "test", "--config.file="+path, arg)
		require.Equal(t, exitOK, code, stderr)
		require.Equal(t, "root\n", stdout)
	}
}

// runAmtool runs amtool and returns its stdout (stderr only carries
// warnings about --alertmanager.url and fatal errors) and exit code.
func runAmtool(t *testing.T, amtool string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(amtool, args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stdout.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return stdout.String(), 0
}

type amtoolResult struct {
	stdout string
	code   int
}

// runAmtoolMany runs amtool once per argument list, a few at a time.
func runAmtoolMany(t *testing.T, amtool string, argLists [][]string) []amtoolResult {
	t.Helper()
	out := make([]amtoolResult, len(argLists))
	errs := make([]error, len(argLists))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, args := range argLists {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cmd := exec.Command(amtool, args...)
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			err := cmd.Run()
			out[i].stdout = stdout.String()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				out[i].code, err = ee.ExitCode(), nil
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	return out
}

// labelCombinations returns every combination of the values per label, as
// label=value arguments ("" leaves the label out).
func labelCombinations(values map[string][]string) [][]string {
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	out := [][]string{nil}
	for _, n := range names {
		var next [][]string
		for _, prefix := range out {
			for _, v := range values[n] {
				args := append([]string(nil), prefix...)
				if v != "" {
					args = append(args, n+"="+strconv.Quote(v))
				}
				next = append(next, args)
			}
		}
		out = next
	}
	return out
}
