package embedded

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// TestSeries is one input_series entry of a promtool rule unit test, as
// written.
type TestSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

// testSeriesParser parses input series with the options promtool's loader
// (promqltest) uses.
var testSeriesParser = parser.NewParser(parser.Options{
	EnableExperimentalFunctions:  true,
	ExperimentalDurationExpr:     true,
	EnableExtendedRangeSelectors: true,
	EnableBinopFillModifiers:     true,
})

// ParseTestSeries parses the input_series of a promtool rule unit test the
// way promtool loads them, quirks included, so that a test file gives the
// same data here: promtool writes the entries as the lines of a promqltest
// "load" command ("series values", one per line), so a line that is empty
// or starts with # after trimming ends the input there, a newline inside
// values starts a new series line, and a series defined twice keeps its
// last definition (in the place of its first). Errors are the parser's,
// with the line number promtool reports (the load line is line 1). Each
// Series' Line is its 1-based line among the series lines.
//
// Unlike LoadSeriesFile there is no size limit: a test file is trusted
// input that promtool would load as well.
func ParseTestSeries(entries []TestSeries) ([]Series, error) {
	var text strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&text, "%v %v\n", e.Series, e.Values)
	}
	var (
		out   []Series
		index = map[uint64]int{}
	)
	for i, line := range strings.Split(text.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			break
		}
		lbls, vals, err := testSeriesParser.ParseSeriesDesc(line)
		if err != nil {
			// Line i of the series is line i+1 of the load command.
			parser.EnrichParseError(err, func(pe *parser.ParseErr) { pe.LineOffset = i + 1 })
			return nil, err
		}
		s := Series{Labels: lbls, Values: vals, Line: i + 1}
		if j, dup := index[lbls.Hash()]; dup {
			out[j] = s
			continue
		}
		index[lbls.Hash()] = len(out)
		out = append(out, s)
	}
	return out, nil
}

// TestLoader hands out the values of input series as a simulated clock
// reaches them, as promtool's rule unit tests append their input series
// before each evaluation.
type TestLoader struct {
	r *replay
}

// NewTestLoader returns a loader of series whose value i is at
// start + i*interval.
func NewTestLoader(series []Series, start time.Time, interval time.Duration) *TestLoader {
	f := &SeriesFile{Interval: interval, Series: series}
	return &TestLoader{r: newReplay([]*SeriesFile{f}, start.UnixMilli())}
}

// Till returns the values at or before t not handed out yet, in time order
// within each series; omitted values (_) are skipped, stale markers are
// included.
func (l *TestLoader) Till(t time.Time) []promql.Sample {
	return l.r.due(t.UnixMilli())
}
