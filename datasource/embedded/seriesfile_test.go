package embedded

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/stretchr/testify/require"
)

// floats returns the values of s as floats, NaN for omitted values.
func floats(s Series) []float64 {
	out := make([]float64, 0, len(s.Values))
	for _, v := range s.Values {
		if v.Omitted {
			out = append(out, math.NaN())
			continue
		}
		out = append(out, v.Value)
	}
	return out
}

func TestLoadSeriesFileGood(t *testing.T) {
	f, err := LoadSeriesFile("testdata/basic.good.yml")
	require.NoError(t, err)
	require.Equal(t, "testdata/basic.good.yml", f.Path)
	require.Equal(t, 15*time.Second, f.Interval)
	require.Len(t, f.Series, 3)

	reqs := f.Series[0]
	require.Equal(t, labels.FromStrings("__name__", "http_requests_total", "code", "500", "job", "web"), reqs.Labels)
	require.Equal(t, 4, reqs.Line)
	// '0+10x3 100 _x2 stale'
	require.Len(t, reqs.Values, 8)
	got := floats(reqs)
	require.Equal(t, []float64{0, 10, 20, 30, 100}, got[:5])
	require.True(t, reqs.Values[5].Omitted)
	require.True(t, reqs.Values[6].Omitted)
	require.True(t, value.IsStaleNaN(reqs.Values[7].Value), "stale is the stale marker")

	require.Equal(t, []float64{1, 1, 1, 1, 1, 1, 1, 1}, floats(f.Series[1]))
	require.Equal(t, labels.FromStrings("__name__", "temperature"), f.Series[2].Labels)
	require.Equal(t, []float64{20, -1.5, 1000}, floats(f.Series[2]))
}

func TestLoadSeriesFileDefaults(t *testing.T) {
	f, err := LoadSeriesFile("testdata/default_interval.good.yml")
	require.NoError(t, err)
	require.Equal(t, DefaultSeriesInterval, f.Interval)
	require.Len(t, f.Series, 2)
	hist := f.Series[0]
	require.Len(t, hist.Values, 3)
	require.NotNil(t, hist.Values[0].Histogram)
	require.InDelta(t, 4, hist.Values[0].Histogram.Count, 0)
	require.Equal(t, 4, f.Series[1].Line)
	require.Equal(t, []float64{5, 4, 3}, floats(f.Series[1]))
}

func TestLoadSeriesFileBad(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // substrings of the error, the file:line first
	}{
		{"unknown_field.bad.yml", []string{"unknown_field.bad.yml:2: field evaluation_interval not found"}},
		{"unknown_entry_field.bad.yml", []string{"unknown_entry_field.bad.yml:5: input_series[1]: field value not found"}},
		{"bad_series.bad.yml", []string{
			"bad_series.bad.yml:4: input_series[1]: bad series",
			"unexpected end of input inside braces",
			"bad_series.bad.yml:6: input_series[2]: bad values",
			`unexpected identifier "three" in series values`,
		}},
		{"missing_values.bad.yml", []string{"missing_values.bad.yml:2: input_series[0]: missing values"}},
		{"negative_interval.bad.yml", []string{"negative_interval.bad.yml:1: interval:", `"-15s"`}},
		{"zero_interval.bad.yml", []string{"zero_interval.bad.yml:1: interval:", "must be positive"}},
		{"duplicate.bad.yml", []string{"duplicate.bad.yml:4: input_series[1]: series", "already defined at line 2"}},
		{"too_many.bad.yml", []string{"too_many.bad.yml:2: input_series[0]: values expand to too many values"}},
		{"values_in_series.bad.yml", []string{"values_in_series.bad.yml:2: input_series[0]: bad series"}},
		{"not_a_list.bad.yml", []string{"not_a_list.bad.yml:1: input_series: want a list"}},
		{"syntax.bad.yml", []string{"syntax.bad.yml:", "did not find expected"}},
		{"empty.bad.yml", []string{"empty.bad.yml: empty series file"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := LoadSeriesFile(filepath.Join("testdata", tc.file))
			require.Error(t, err)
			require.Nil(t, f)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadSeriesFileMissing(t *testing.T) {
	_, err := LoadSeriesFile("testdata/no-such-file.yml")
	require.ErrorContains(t, err, "no-such-file.yml")
}

func TestParseSeriesFileErrors(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		_, err := parseSeriesFile("f.yml", []byte(doc), maxFileValues)
		require.ErrorContains(t, err, want)
	}
	f("input_series: []", "f.yml:1: input_series: empty")
	f("interval: 1m", "f.yml: input_series: missing")
	f("interval: [1]\ninput_series: [{series: a, values: '1'}]", "f.yml:1: interval: want a duration")
	f("input_series: [{series: '{}', values: '1'}]", "no labels")
	f("input_series: [{series: a, values: '1'}]\n---\ninput_series: []", "one YAML document")
	f("input_series: [{series: a, values: '1'}, 3]", "input_series[1]: want a mapping")
	f("input_series: [{values: '1'}]", "missing series")
	f("- 1", "f.yml:1: cannot unmarshal !!seq")
	f("input_series: [{series: a, values: '1x99999999999999999999999'}]", "values expand to too many values: a series file may hold 1000000 in all")
	f("input_series: [{series: a, values: '{{schema:0 count:1}}x100000'}]", "values expand to too many values: a series file may hold 1000000 in all")
	f("interval: 100y\ninput_series: [{series: a, values: '1 2 3'}]", "span more than 100 years")
}

func TestCountValues(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64 // an upper bound of the real count
	}{
		{"1", 1},
		{"1 2 3", 3},
		{"0+10x100", 102},
		{"_x3 stale", 6},
		{"1x18446744073709551615", math.MaxUint64},
	} {
		require.Equal(t, tc.want, countValues(tc.in), tc.in)
	}
	// The bound holds for what the parser makes of it.
	f, err := parseSeriesFile("f.yml", []byte("input_series: [{series: a, values: '0+1x10 _x3 1 2 stale -1-1x2'}]"), maxFileValues)
	require.NoError(t, err)
	vals := f.Series[0].Values
	require.LessOrEqual(t, uint64(len(vals)), countValues("0+1x10 _x3 1 2 stale -1-1x2"))
	require.Len(t, vals, 11+3+3+3)
	require.True(t, strings.HasPrefix(vals[len(vals)-1].String(), "-3"))
}
