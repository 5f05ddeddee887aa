package promapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
)

// refResponse is a reference decoding of an answer with encoding/json, used
// to cross-check the hand-written decoder and as the benchmark baseline.
type refResponse struct {
	Status    string   `json:"status"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Data      *refData `json:"data,omitempty"`
}

type refData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

type refSample struct {
	Metric    map[string]string `json:"metric"`
	Value     []json.RawMessage `json:"value,omitempty"`
	Histogram []json.RawMessage `json:"histogram,omitempty"`
}

// refDecode decodes body with encoding/json. ok is false for anything the
// reference does not accept.
func refDecode(body []byte) (r refResponse, vec promql.Vector, ok bool) {
	if json.Unmarshal(body, &r) != nil {
		return r, nil, false
	}
	if r.Data == nil {
		return r, nil, true
	}
	switch r.Data.ResultType {
	case "vector":
		var samples []refSample
		if json.Unmarshal(r.Data.Result, &samples) != nil || samples == nil {
			return r, nil, false
		}
		vec = promql.Vector{}
		for _, s := range samples {
			pair := s.Value
			if pair == nil {
				pair = s.Histogram
			}
			t, f, ok := refPair(pair, s.Value == nil)
			if !ok {
				return r, nil, false
			}
			for name, value := range s.Metric {
				switch {
				case value == "":
					delete(s.Metric, name)
				case name == "":
					return r, nil, false
				}
			}
			vec = append(vec, promql.Sample{Metric: labels.FromMap(s.Metric), T: t, F: f})
		}
	case "scalar":
		var pair []json.RawMessage
		if json.Unmarshal(r.Data.Result, &pair) != nil {
			return r, nil, false
		}
		t, f, ok := refPair(pair, false)
		if !ok {
			return r, nil, false
		}
		vec = promql.Vector{{Metric: labels.EmptyLabels(), T: t, F: f}}
	default:
		r.Data.Result = nil
	}
	return r, vec, true
}

// refPair decodes [timestamp, "value"], or [timestamp, {histogram}].
func refPair(pair []json.RawMessage, histogram bool) (int64, float64, bool) {
	var (
		ts float64
		v  string
	)
	if len(pair) != 2 || json.Unmarshal(pair[0], &ts) != nil {
		return 0, 0, false
	}
	t := math.Round(ts * 1000)
	if math.Abs(t) > 1<<53 {
		return 0, 0, false
	}
	if histogram {
		var h map[string]any
		return int64(t), 0, json.Unmarshal(pair[1], &h) == nil && h != nil
	}
	if json.Unmarshal(pair[1], &v) != nil {
		return 0, 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return int64(t), f, err == nil
}

// canonical re-encodes a reference decoding the way Prometheus writes it.
func canonical(r refResponse, vec promql.Vector) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"status":%s,"errorType":%s,"error":%s`, jsonString(r.Status), jsonString(r.ErrorType), jsonString(r.Error))
	if r.Data != nil {
		fmt.Fprintf(&b, `,"data":{"resultType":%s,"result":`, jsonString(r.Data.ResultType))
		if vec == nil {
			b.WriteString(`"skipped"`)
		} else if r.Data.ResultType == "scalar" {
			fmt.Fprintf(&b, `[%s,"%s"]`, appendTime(nil, time.UnixMilli(vec[0].T)), strconv.FormatFloat(vec[0].F, 'g', -1, 64))
		} else {
			b.WriteByte('[')
			for i, s := range vec {
				if i > 0 {
					b.WriteByte(',')
				}
				m, _ := json.Marshal(s.Metric.Map())
				fmt.Fprintf(&b, `{"metric":%s,"value":[%s,"%s"]}`, m, appendTime(nil, time.UnixMilli(s.T)), strconv.FormatFloat(s.F, 'g', -1, 64))
			}
			b.WriteByte(']')
		}
		b.WriteByte('}')
	}
	b.WriteString(`,"warnings":["w"]}`)
	return []byte(b.String())
}

var fuzzSeeds = []string{
	vectorBody,
	`{"status":"success","data":{"resultType":"vector","result":[]}}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1700000000.123,"NaN"]}}`,
	`{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`,
	`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1,"1"],[2,"+Inf"]]}]}}`,
	`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"h","le":"0.5"},` +
		`"histogram":[1.5,{"count":"2","sum":"3","buckets":[[3,"-0.5","0.5","2"]]}]}]}}`,
	`{"data":{"result":[{"value":[1e3,"-1"],"metric":{"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00":"\ud800x"}}],"resultType":"vector"},"status":"success"}`,
	`{"status":"error","errorType":"bad_data","error":"parse error"}`,
	`{"status":"success","data":null,"infos":[{"a":[true,false,null,-0.5e-7]}]}`,
	`<html>502 Bad Gateway</html>`,
}

// FuzzDecode checks that decoding never panics, that what it accepts is a
// valid vector, and that it agrees with encoding/json on what that accepts.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeResponse(body)
		if err == nil {
			for _, s := range r.vector {
				require.Nil(t, s.H)
				names := []string{}
				s.Metric.Range(func(l labels.Label) { names = append(names, l.Name) })
				for i := 1; i < len(names); i++ {
					require.Greater(t, names[i], names[i-1], "labels sorted and unique")
				}
			}
		}
		ref, vec, ok := refDecode(body)
		if !ok {
			return
		}
		canon := canonical(ref, vec)
		r, err = decodeResponse(canon)
		require.NoError(t, err, "%s", canon)
		require.Equal(t, ref.Status, r.status)
		require.Equal(t, ref.ErrorType, r.errorType)
		require.Equal(t, ref.Error, r.errorMsg)
		if ref.Data != nil {
			require.Equal(t, ref.Data.ResultType, r.resultType)
		}
		if vec != nil {
			requireVector(t, vec, r.vector)
		}
	})
}
