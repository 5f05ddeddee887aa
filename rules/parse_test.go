package rules_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
	"github.com/alerter/alerter/rules"
)

func TestParseEveryField(t *testing.T) {
	f, errs := rules.Parse("f.yml", []byte(`
groups:
  - name: g
    interval: 30s
    query_offset: 1m
    limit: 10
    labels: {team: web}
    datasource: thanos
    rules:
      - alert: A
        expr: up == 0
        for: 5m
        keep_firing_for: 10m
        labels: {severity: page}
        annotations: {summary: '{{ $labels.instance }} down'}
      - record: job:up:sum
        expr: sum by (job) (up)
        labels: {source: rec}
  - name: cron
    schedule: "CRON_TZ=Europe/Berlin 0 6 * * *"
    rules: []
`))
	require.Empty(t, errs)
	require.Len(t, f.Groups, 2)
	g := f.Groups[0]
	off := time.Minute
	require.Equal(t, rules.RuleGroup{
		Name: "g", Interval: 30 * time.Second, QueryOffset: &off, Limit: 10,
		Labels: map[string]string{"team": "web"}, Datasource: "thanos", Pos: rules.Position{Line: 3, Column: 5},
		Rules: []rules.Rule{{
			Alert: "A", Expr: "up == 0", For: 5 * time.Minute, KeepFiringFor: 10 * time.Minute,
			Labels: map[string]string{"severity": "page"}, Annotations: map[string]string{"summary": "{{ $labels.instance }} down"},
			Pos: rules.Position{Line: 10, Column: 9},
		}, {
			Record: "job:up:sum", Expr: "sum by (job) (up)", Labels: map[string]string{"source": "rec"},
			Pos: rules.Position{Line: 16, Column: 9},
		}},
	}, g)
	require.Equal(t, "CRON_TZ=Europe/Berlin 0 6 * * *", f.Groups[1].Schedule)
	a, r := f.RuleCount()
	require.Equal(t, []int{1, 1}, []int{a, r})
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "groups:\n", "groups: []\n"} {
		f, errs := rules.Parse("f.yml", []byte(in))
		require.Empty(t, errs, "%q", in)
		require.Empty(t, f.Groups)
	}
}

func TestParseAnchorsAndMerges(t *testing.T) {
	_, errs := rules.Parse("f.yml", []byte(`
common: &common
  for: 5m
  labels: {severity: warn}
groups:
  - name: g
    rules:
      - <<: *common
        alert: A
        expr: up == 0
      - <<: *common
        alert: B
        expr: up == 1
        for: 1m
`))
	// A top-level key other than groups is an error, as in promtool...
	require.Len(t, errs, 1)
	require.Contains(t, errs[0].Error(), "f.yml:2:1: field common not found in rule file")

	f, errs := rules.Parse("f.yml", []byte(`
groups:
  - name: g
    rules:
      - &a
        alert: A
        expr: up == 0
        for: 5m
        labels: {severity: warn}
      - <<: *a
        alert: B
        for: 1m
`))
	require.Empty(t, errs)
	rs := f.Groups[0].Rules
	require.Equal(t, "up == 0", rs[1].Expr)
	require.Equal(t, time.Minute, rs[1].For, "an explicit key wins over a merged one")
	require.Equal(t, map[string]string{"severity": "warn"}, rs[1].Labels)
}

// TestParseErrors checks that every problem is reported, each with its
// position, group and rule.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{{
		name: "yaml syntax",
		in:   "groups:\n  - name: [\n",
		want: []string{"f.yml: yaml: line 2: did not find expected node content"},
	}, {
		name: "groups not a list",
		in:   "groups: {a: 1}\n",
		want: []string{"f.yml:1:9: groups: expected a list of rule groups, got a mapping"},
	}, {
		name: "group problems",
		in: `groups:
  - name: g
    interval: 5x
    limit: many
    bogus: 1
    labels: {__name__: x, "": y}
    rules:
      - alert: A
        expr: up
  - name: g
    rules: []
  - rules: []
  - name: c
    interval: 1m
    schedule: "every day"
  - name: d
    schedule: ""
`,
		want: []string{
			`f.yml:5:5: group "g": field bogus not found in rule group`,
			`f.yml:3:15: group "g": interval: unknown unit "x" in duration "5x"`,
			"f.yml:4:12: group \"g\": limit: cannot unmarshal !!str `many` into int",
			`f.yml:6:14: group "g": invalid label name: __name__`,
			`f.yml:6:27: group "g": invalid label name: `,
			`f.yml:10:5: groupname: "g" is repeated in the same file`,
			`f.yml:12:5: Groupname must not be empty`,
			`f.yml:15:5: group "c": schedule and interval are mutually exclusive`,
			`f.yml:15:15: group "c": invalid schedule "every day": expected 5 to 6 fields, found 2: [every day]`,
			`f.yml:17:15: group "d": schedule must not be empty`,
		},
	}, {
		name: "rule problems",
		in: `groups:
  - name: g
    rules:
      - alert: A
        record: a
        expr: up
      - expr: up
      - alert: C
      - alert: D
        expr: sum(
      - record: "x{a='b'}"
        expr: up
        for: 1m
        keep_firing_for: 1m
        annotations: {a: b}
      - alert: F
        expr: up
        labels: {severity: "{{ .Unclosed "}
        annotations: {"any UTF-8 name": x, summary: "{{ $labels.x }"}
      - alert: G
        expr: up
        for: 1m
        for: 2m
        unknown: x
`,
		want: []string{
			`f.yml:5:9: group "g", rule 1 ("A"): only one of 'record' and 'alert' must be set`,
			`f.yml:7:9: group "g", rule 2 (""): one of 'record' or 'alert' must be set`,
			`f.yml:8:9: group "g", rule 3 ("C"): field 'expr' must be set in rule`,
			`f.yml:10:15: group "g", rule 4 ("D"): could not parse expression: 1:5: parse error: unclosed left parenthesis`,
			`f.yml:15:9: group "g", rule 5 ("x{a='b'}"): invalid field 'annotations' in recording rule`,
			`f.yml:13:9: group "g", rule 5 ("x{a='b'}"): invalid field 'for' in recording rule`,
			`f.yml:14:9: group "g", rule 5 ("x{a='b'}"): invalid field 'keep_firing_for' in recording rule`,
			`f.yml:11:9: group "g", rule 5 ("x{a='b'}"): braces present in the recording rule name; should it be in expr?: x{a='b'}`,
			`f.yml:18:28: group "g", rule 6 ("F"): label "severity": template: __alert_F:1: unclosed action`,
			`f.yml:19:53: group "g", rule 6 ("F"): annotation "summary": template: __alert_F:1: unexpected "}" in operand`,
			`f.yml:23:9: group "g", rule 7 ("G"): mapping key "for" already defined at line 22`,
			`f.yml:24:9: group "g", rule 7 ("G"): field unknown not found in rule`,
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, errs := rules.Parse("f.yml", []byte(tc.in))
			require.Nil(t, f)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			for _, w := range tc.want {
				require.Contains(t, got, w, "all errors:\n%s", strings.Join(got, "\n"))
			}
			require.Len(t, got, len(tc.want), "all errors:\n%s", strings.Join(got, "\n"))
		})
	}
}

func TestScheduleForms(t *testing.T) {
	for _, spec := range []string{"*/5 * * * *", "0 */5 * * * *", "@every 30s", "@daily", "@hourly", "CRON_TZ=America/New_York 30 9 * * 1-5", "TZ=UTC 0 0 1 * *"} {
		_, err := rules.ParseSchedule(spec)
		require.NoError(t, err, spec)
	}
	for _, spec := range []string{"* * *", "@sometimes", "CRON_TZ=Nowhere/City * * * * *", "61 * * * *"} {
		_, err := rules.ParseSchedule(spec)
		require.Error(t, err, spec)
	}
}

// FuzzParse feeds arbitrary text to the rule parser: it must never panic,
// and it returns either a file or errors, never both nor neither.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 5m\n",
		"groups:\n  - name: g\n    schedule: '@every 1m'\n    rules:\n      - record: a:b\n        expr: sum(x)\n",
		"groups:\n  - &a {name: g, rules: [{alert: A, expr: up, labels: {a: '{{ $value }}'}}]}\n  - <<: *a\n",
		"groups: [{name: x, interval: 1m, query_offset: 1s, limit: 3, labels: {a: b}, rules: null}]",
		"{{", "groups: *x", "- - -", "groups:\n- name: a\n  rules:\n  - alert: '\x00'\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// A parse that hangs is a bug too (alias bombs, pathological
		// regexes): fail it, so the fuzzer keeps the input.
		var (
			file *rules.File
			errs []error
		)
		testutil.Within(t, 5*time.Second, b, func() { file, errs = rules.Parse("fuzz.yml", b) })
		if (file == nil) == (len(errs) == 0) {
			t.Fatalf("file %v with %d errors", file, len(errs))
		}
		for _, e := range errs {
			if e.Error() == "" {
				t.Fatal("empty error message")
			}
		}
	})
}
