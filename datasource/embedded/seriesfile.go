package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// DefaultSeriesInterval is the time between two values of a series when a
// series file does not set interval.
const DefaultSeriesInterval = 15 * time.Second

const (
	// maxFileValues bounds how many values one series file may expand to,
	// so that a typo such as 0+1x1000000000 is a load error instead of an
	// exhausted memory. The count is an upper bound taken before parsing.
	maxFileValues = 1_000_000
	// maxSpan bounds how far after the start a series may reach, so that
	// start + i*interval cannot overflow.
	maxSpan = 100 * 365 * 24 * time.Hour
)

// errTooManyValues is returned when a series file expands to more than the
// values it may hold.
var errTooManyValues = errors.New("values expand to too many values")

// SeriesFile is a parsed and validated series file.
type SeriesFile struct {
	// Path is the file's path, as given.
	Path string
	// Interval is the time between two values of each series.
	Interval time.Duration
	// Series are the file's input series, in file order.
	Series []Series
}

// Series is one input series of a series file.
type Series struct {
	// Labels identify the series, metric name included.
	Labels labels.Labels
	// Values holds value i for the time start + i*Interval. Omitted values
	// (written _) are not appended; the stale marker (written stale) is.
	Values []parser.SequenceValue
	// Line is the line of the entry in its file.
	Line int
}

// rawSeriesFile is the document as read; its fields stay YAML nodes so that
// each error can name the line it comes from.
type rawSeriesFile struct {
	Interval    yaml.Node `yaml:"interval"`
	InputSeries yaml.Node `yaml:"input_series"`
}

// rawSeries is one input_series entry as read.
type rawSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

// LoadSeriesFile reads, parses and validates the series file at path. Every
// problem found is reported, each prefixed with path:line.
func LoadSeriesFile(path string) (*SeriesFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load series file: %w", err)
	}
	return parseSeriesFile(path, b, maxFileValues)
}

// parseSeriesFile parses the content b of a series file, which may expand
// to maxValues values at most; path names it in errors.
func parseSeriesFile(path string, b []byte, maxValues uint64) (*SeriesFile, error) {
	var raw rawSeriesFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty series file: want input_series", path)
		}
		return nil, yamlError(path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s:%d: a series file holds one YAML document", path, extra.Line)
	}

	f := &SeriesFile{Path: path, Interval: DefaultSeriesInterval}
	var errs []error
	if !raw.Interval.IsZero() {
		d, err := parseInterval(&raw.Interval)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: interval: %w", path, raw.Interval.Line, err))
		} else {
			f.Interval = d
		}
	}
	items, err := seriesNodes(&raw.InputSeries)
	if err != nil {
		where := path
		if raw.InputSeries.Line > 0 {
			where = fmt.Sprintf("%s:%d", path, raw.InputSeries.Line)
		}
		return nil, errors.Join(append(errs, fmt.Errorf("%s: input_series: %w", where, err))...)
	}

	p := parser.NewParser(parser.Options{})
	seen := make(map[string]int, len(items))
	budget := maxValues
	for i, n := range items {
		s, err := parseEntry(p, n, f.Interval, &budget)
		if err == nil {
			key := s.Labels.String()
			if line, dup := seen[key]; dup {
				err = fmt.Errorf("series %s already defined at line %d", key, line)
			}
			seen[key] = s.Line
		}
		if errors.Is(err, errTooManyValues) {
			err = fmt.Errorf("%w: a series file may hold %d in all", err, maxValues)
		}
		if err != nil {
			line := n.Line
			var le *lineError
			if errors.As(err, &le) {
				line, err = le.line, le.err
			}
			errs = append(errs, fmt.Errorf("%s:%d: input_series[%d]: %w", path, line, i, err))
			continue
		}
		f.Series = append(f.Series, s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

// parseInterval reads the interval node: a positive Prometheus duration.
func parseInterval(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, errors.New("want a duration such as 15s")
	}
	d, err := model.ParseDuration(n.Value)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: must be positive", n.Value)
	}
	return time.Duration(d), nil
}

// seriesNodes returns the entries of the input_series list.
func seriesNodes(n *yaml.Node) ([]*yaml.Node, error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case n.IsZero(), n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil, errors.New("missing: want a list of series")
	case n.Kind != yaml.SequenceNode:
		return nil, errors.New("want a list of series")
	case len(n.Content) == 0:
		return nil, errors.New("empty: want at least one series")
	}
	return n.Content, nil
}

// parseEntry parses one input_series entry, charging the values it expands
// to against budget.
func parseEntry(p parser.Parser, n *yaml.Node, interval time.Duration, budget *uint64) (Series, error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return Series{}, errors.New("want a mapping with series and values")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i]; k.Value {
		case "series", "values", "<<":
		default:
			return Series{}, &lineError{line: k.Line, err: fmt.Errorf("field %s not found", k.Value)}
		}
	}
	var raw rawSeries
	if err := n.Decode(&raw); err != nil {
		return Series{}, yamlError("", err)
	}
	switch {
	case strings.TrimSpace(raw.Series) == "":
		return Series{}, errors.New("missing series")
	case strings.TrimSpace(raw.Values) == "":
		return Series{}, errors.New("missing values")
	}
	// ParseMetric rejects values written into the series field, so that
	// countValues below sees every repetition before the parser expands it.
	lbls, err := p.ParseMetric(raw.Series)
	if err != nil {
		return Series{}, fmt.Errorf("bad series %q: %w", raw.Series, err)
	}
	if lbls.IsEmpty() {
		return Series{}, fmt.Errorf("bad series %q: no labels", raw.Series)
	}
	if name, dup := lbls.HasDuplicateLabelNames(); dup {
		return Series{}, fmt.Errorf("bad series %q: label %s set twice", raw.Series, name)
	}
	count := countValues(raw.Values)
	if count > *budget {
		return Series{}, errTooManyValues
	}
	*budget -= count
	_, vals, err := p.ParseSeriesDesc(raw.Series + " " + raw.Values)
	if err != nil {
		return Series{}, fmt.Errorf("bad values %q: %w", raw.Values, err)
	}
	if len(vals) == 0 {
		return Series{}, errors.New("missing values")
	}
	if steps := len(vals) - 1; steps > 0 && interval > maxSpan/time.Duration(steps) {
		return Series{}, fmt.Errorf("%d values at interval %s span more than 100 years", len(vals), interval)
	}
	return Series{Labels: lbls, Values: vals, Line: n.Line}, nil
}

// lineError is an error at another line than its entry's.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }

func (e *lineError) Unwrap() error { return e.err }

// countValues returns an upper bound of the number of values that the
// values string s expands to: one per space-separated token plus, for each
// repetition xN, N+1. A repeated native histogram counts for half its
// length in characters, roughly how many floats it takes in memory.
func countValues(s string) uint64 {
	var n uint64 = 1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n':
			n = addSat(n, 1)
		case 'x':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j == i+1 {
				continue
			}
			r, err := strconv.ParseUint(s[i+1:j], 10, 64)
			if err != nil {
				return math.MaxUint64
			}
			weight := uint64(1)
			if open := strings.LastIndex(s[:i], "{{"); open >= 0 && s[i-1] == '}' {
				weight = uint64(i-open)/2 + 1
			}
			n = addSat(n, mulSat(addSat(r, 1), weight))
			i = j - 1
		}
	}
	return n
}

// addSat adds without overflowing.
func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// mulSat multiplies without overflowing.
func mulSat(a, b uint64) uint64 {
	if b != 0 && a > math.MaxUint64/b {
		return math.MaxUint64
	}
	return a * b
}

// yamlError turns a YAML error into one error per problem, each prefixed
// with path:line instead of yaml's "line N:" and without Go type names.
func yamlError(path string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return errors.New(position(path, strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	errs := make([]error, 0, len(te.Errors))
	for _, e := range te.Errors {
		errs = append(errs, errors.New(position(path, e)))
	}
	return errors.Join(errs...)
}

// position rewrites "line N: msg" to "path:N: msg" and strips the Go type
// names yaml puts in its messages.
func position(path, msg string) string {
	if i := strings.Index(msg, " in type "); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, " into "); i >= 0 {
		msg = msg[:i]
	}
	if path == "" {
		return msg
	}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if _, err := strconv.Atoi(num); err == nil {
				return path + ":" + num + ": " + text
			}
		}
	}
	return path + ": " + msg
}
