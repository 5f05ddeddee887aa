package promapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkQuery measures a whole query against a local server answering one
// sample. The allocations include the server's, which runs in-process.
func BenchmarkQuery(b *testing.B) {
	srv := serve(b, http.StatusOK, vectorBody)
	c := newClient(b, Options{URL: srv.URL})
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Query(ctx, `up{job="api"} == 0`, evalTime); err != nil {
			b.Fatal(err)
		}
	}
}

// benchBody is an answer with n samples of typical alert-rule labels.
func benchBody(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"metric":{"__name__":"http_requests_total","code":"500","handler":"/api/v1/items",`+
			`"instance":"10.0.%d.%d:8080","job":"api","method":"GET","namespace":"prod"},"value":[1700000000.123,"%d.25"]}`,
			i/256, i%256, i)
	}
	sb.WriteString(`]}}`)
	return []byte(sb.String())
}

// BenchmarkDecode measures decoding without the network, against
// encoding/json as a baseline.
func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{1, 100} {
		body := benchBody(n)
		b.Run(fmt.Sprintf("samples=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := decodeResponse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("samples=%d/encoding-json", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, _, ok := refDecode(body); !ok {
					b.Fatal("reference decoding failed")
				}
			}
		})
	}
}
