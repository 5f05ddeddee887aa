package ruletest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter/datasource/embedded"
)

// defaultEvaluationInterval applies when a test file sets none, as in
// promtool.
const defaultEvaluationInterval = time.Minute

// testFile is a promtool unit-test file. The field set is promtool 3's;
// any other field is an error, as promtool reads the file strictly.
type testFile struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	GroupEvalOrder     []string       `yaml:"group_eval_order"`
	Tests              []testGroup    `yaml:"tests"`
	// FuzzyCompare lets sample values differ by one unit in the last place.
	FuzzyCompare bool `yaml:"fuzzy_compare"`
}

// testGroup is one test: input series and the checks made on them.
type testGroup struct {
	Name string `yaml:"name"`
	// Interval is the step of the input series and the default evaluation
	// interval of rule groups; zero means the file's evaluation_interval.
	Interval        model.Duration        `yaml:"interval"`
	InputSeries     []embedded.TestSeries `yaml:"input_series"`
	AlertRuleTests  []alertTestCase       `yaml:"alert_rule_test"`
	PromqlExprTests []promqlTestCase      `yaml:"promql_expr_test"`
	ExternalLabels  labels.Labels         `yaml:"external_labels"`
	ExternalURL     string                `yaml:"external_url"`
	// StartTimestamp is the time of eval_time 0 and of the first input
	// value; zero means the Unix epoch.
	StartTimestamp startTimestamp `yaml:"start_timestamp"`
}

// alertTestCase checks the alerts of one alerting rule that fire at one
// evaluation time.
type alertTestCase struct {
	EvalTime  model.Duration `yaml:"eval_time"`
	Alertname string         `yaml:"alertname"`
	ExpAlerts []expAlert     `yaml:"exp_alerts"`
}

// expAlert is one expected firing alert.
type expAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// promqlTestCase checks the result of an instant query.
type promqlTestCase struct {
	Expr       string         `yaml:"expr"`
	EvalTime   model.Duration `yaml:"eval_time"`
	ExpSamples []expSample    `yaml:"exp_samples"`
}

// expSample is one expected sample: labels in PromQL notation and either a
// float value or a native histogram in series notation.
type expSample struct {
	Labels    string  `yaml:"labels"`
	Value     float64 `yaml:"value"`
	Histogram string  `yaml:"histogram"`
}

// startTimestamp is a time written as RFC 3339 or as Unix seconds.
type startTimestamp struct {
	time.Time
}

// UnmarshalYAML reads the timestamp as promtool does.
func (t *startTimestamp) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(f)
		t.Time = time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC()
		return nil
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("cannot parse %q to a valid timestamp", s)
	}
	t.Time = parsed
	return nil
}

// readTestFile reads and decodes the test file at path. Unknown fields are
// errors. An empty file holds no tests.
func readTestFile(path string) (*testFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tf testFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tf.EvaluationInterval == 0 {
		tf.EvaluationInterval = model.Duration(defaultEvaluationInterval)
	}
	return &tf, nil
}

// resolveRuleFiles makes the rule_files patterns relative to the test
// file's folder and expands them. A pattern that matches nothing is a
// warning, as in promtool; a file named twice is kept once.
func resolveRuleFiles(dir string, patterns []string) (files, warnings []string, err error) {
	seen := map[string]bool{}
	for _, p := range patterns {
		if p != "" && !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, nil, fmt.Errorf("rule_files: %q: %w", p, err)
		}
		if len(m) == 0 {
			warnings = append(warnings, fmt.Sprintf("no file match pattern %s", p))
		}
		for _, f := range m {
			if !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	return files, warnings, nil
}

// groupOrder maps each group named in group_eval_order to its rank. A name
// given twice is an error, as in promtool.
func groupOrder(names []string) (map[string]int, error) {
	order := make(map[string]int, len(names))
	for i, n := range names {
		if _, dup := order[n]; dup {
			return nil, fmt.Errorf("group name repeated in evaluation order: %s", n)
		}
		order[n] = i
	}
	return order, nil
}
