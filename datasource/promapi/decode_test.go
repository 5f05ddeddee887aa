package promapi

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
)

// requireVector compares vectors, treating NaN values as equal.
func requireVector(t *testing.T, want, got promql.Vector) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].Metric.String(), got[i].Metric.String(), "sample %d labels", i)
		require.Equal(t, want[i].T, got[i].T, "sample %d timestamp", i)
		require.Equal(t, math.Float64bits(want[i].F), math.Float64bits(got[i].F), "sample %d value", i)
		require.Nil(t, got[i].H, "sample %d histogram", i)
	}
}

func TestDecodeResponse(t *testing.T) {
	const histogram = `{"count":"3","sum":"1.5","buckets":[[0,"0.5","1","3"],[1,"1","2","0"]]}`
	tests := []struct {
		name       string
		body       string
		resultType string
		want       promql.Vector
		status     string
		errorType  string
		errorMsg   string
		err        string
	}{
		{
			name: "vector",
			body: `{"status":"success","data":{"resultType":"vector","result":[
				{"metric":{"__name__":"up","job":"api","instance":"a:9090"},"value":[1700000000.123,"1"]},
				{"metric":{"job":"api"},"value":[1700000000.123,"NaN"]},
				{"metric":{"job":"b"},"value":[1700000000,"+Inf"]},
				{"metric":{"job":"c"},"value":[1700000000.5,"-Inf"]},
				{"metric":{},"value":[1700000000.001,"-2.5e-3"]}]},
				"warnings":["w1"],"infos":["i1"]}`,
			resultType: "vector",
			want: promql.Vector{
				{Metric: labels.FromStrings("__name__", "up", "instance", "a:9090", "job", "api"), T: 1700000000123, F: 1},
				{Metric: labels.FromStrings("job", "api"), T: 1700000000123, F: math.NaN()},
				{Metric: labels.FromStrings("job", "b"), T: 1700000000000, F: math.Inf(1)},
				{Metric: labels.FromStrings("job", "c"), T: 1700000000500, F: math.Inf(-1)},
				{Metric: labels.EmptyLabels(), T: 1700000000001, F: -0.0025},
			},
			status: "success",
		},
		{
			name:       "empty vector",
			body:       `{"status":"success","data":{"resultType":"vector","result":[]}}`,
			resultType: "vector",
			want:       promql.Vector{},
			status:     "success",
		},
		{
			name:       "scalar",
			body:       `{"status":"success","data":{"resultType":"scalar","result":[1700000000.123,"42"]}}`,
			resultType: "scalar",
			want:       promql.Vector{{Metric: labels.EmptyLabels(), T: 1700000000123, F: 42}},
			status:     "success",
		},
		{
			name:       "matrix is skipped",
			body:       `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1,"1"],[2,"2"]]}]}}`,
			resultType: "matrix",
			status:     "success",
		},
		{
			name:       "string is skipped",
			body:       `{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}`,
			resultType: "string",
			status:     "success",
		},
		{
			name: "histogram sample keeps its series",
			body: `{"status":"success","data":{"resultType":"vector","result":[
				{"metric":{"__name__":"h"},"histogram":[1700000000.25,` + histogram + `]},
				{"metric":{"__name__":"f"},"value":[1700000000.25,"7"]}]}}`,
			resultType: "vector",
			want: promql.Vector{
				{Metric: labels.FromStrings("__name__", "h"), T: 1700000000250},
				{Metric: labels.FromStrings("__name__", "f"), T: 1700000000250, F: 7},
			},
			status: "success",
		},
		{
			name: "result before resultType, escapes, unknown fields",
			body: `{"data":{"result":[{"value":[1, "1"],"extra":{"x":[true,false,null]},
				"metric":{"a\"b":"c\\d\u00e9\ud83d\ude00\n","__name__":"x\/y"}}],"resultType":"vector"},"status":"success"}`,
			resultType: "vector",
			want: promql.Vector{
				{Metric: labels.FromStrings("__name__", "x/y", `a"b`, "c\\d\u00e9\U0001F600\n"), T: 1000, F: 1},
			},
			status: "success",
		},
		{
			name:       "empty label values are dropped",
			body:       `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"","b":"1","":""},"value":[1,"1"]}]}}`,
			resultType: "vector",
			want:       promql.Vector{{Metric: labels.FromStrings("b", "1"), T: 1000, F: 1}},
			status:     "success",
		},
		{
			name:      "error body",
			body:      `{"status":"error","errorType":"bad_data","error":"1:1: parse error"}`,
			status:    "error",
			errorType: "bad_data",
			errorMsg:  "1:1: parse error",
		},
		{name: "not JSON", body: `<html>502</html>`, err: "invalid JSON at offset 0: expected '{'"},
		{name: "truncated", body: `{"status":"success","data":{"resultType":"vector","result":[{`, err: "unexpected end of JSON input"},
		{name: "trailing garbage", body: `{"status":"success"} x`, err: "expected end of input"},
		{name: "bad value", body: `{"data":{"resultType":"vector","result":[{"value":[1,"abc"]}]}}`, err: `sample 0: invalid sample value "abc"`},
		{name: "numeric value", body: `{"data":{"resultType":"vector","result":[{"value":[1,1]}]}}`, err: "expected string"},
		{name: "no value", body: `{"data":{"resultType":"vector","result":[{"metric":{}}]}}`, err: "no value or histogram"},
		{name: "duplicate label", body: `{"data":{"resultType":"vector","result":[{"metric":{"a":"1","a":"2"},"value":[1,"1"]}]}}`, err: `duplicate label name "a"`},
		{name: "empty label name", body: `{"data":{"resultType":"vector","result":[{"metric":{"":"x"},"value":[1,"1"]}]}}`, err: "empty label name"},
		{name: "null vector", body: `{"data":{"resultType":"vector","result":null}}`, err: "expected '['"},
		{name: "timestamp overflow", body: `{"data":{"resultType":"scalar","result":[1e300,"1"]}}`, err: "timestamp 1e300 out of range"},
		{name: "too deep", body: `{"x":` + deep(200) + `}`, err: "nested too deeply"},
		{name: "control character", body: "{\"status\":\"a\x01\"}", err: "expected string character"},
		{name: "bad escape", body: `{"status":"\x"}`, err: "expected escape character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := decodeResponse([]byte(tc.body))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.status, r.status)
			require.Equal(t, tc.errorType, r.errorType)
			require.Equal(t, tc.errorMsg, r.errorMsg)
			require.Equal(t, tc.resultType, r.resultType)
			requireVector(t, tc.want, r.vector)
		})
	}
}

func deep(n int) string {
	b := make([]byte, 0, 2*n)
	for range n {
		b = append(b, '[')
	}
	for range n {
		b = append(b, ']')
	}
	return string(b)
}

func TestParseMillis(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1700000000.123", 1700000000123, true},
		{"1700000000.1", 1700000000100, true},
		{"1700000000.12", 1700000000120, true},
		{"1700000000.1239", 1700000000123, true},
		{"-1.5", -1500, true},
		{"1.7e9", 1700000000000, true},
		{"1.7E+3", 1700000, true},
		{"9223372036854774", 9223372036854774000, true},
		{"9223372036854775", 0, false},
		{"99999999999999999999", 0, false},
		{"1e300", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseMillis([]byte(tc.in))
		require.Equal(t, tc.ok, ok, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestAppendTime(t *testing.T) {
	tests := []struct {
		ts   time.Time
		want string
	}{
		{time.UnixMilli(1700000000123), "1700000000.123"},
		{time.UnixMilli(1700000000000), "1700000000.000"},
		{time.UnixMilli(1700000000007), "1700000000.007"},
		{time.Unix(1700000000, 999_999_999), "1700000000.999"},
		{time.UnixMilli(-1500), "-1.500"},
		{time.Unix(0, 0), "0.000"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, string(appendTime(nil, tc.ts)))
	}
}
