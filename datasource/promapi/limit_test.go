package promapi

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hugeAnswer streams a valid-looking vector answer of size bytes without
// holding it in memory, with or without a Content-Length.
func hugeAnswer(t *testing.T, size int, declare bool) *httptest.Server {
	t.Helper()
	head := `{"status":"success","data":{"resultType":"vector","result":[`
	sample := `{"metric":{"__name__":"up","job":"` + strings.Repeat("x", 200) + `"},"value":[1700000000.123,"1"]},`
	chunk := []byte(strings.Repeat(sample, 4096))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if declare {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		n, _ := w.Write([]byte(head))
		for n < size {
			m, err := w.Write(chunk[:min(len(chunk), size-n)])
			if err != nil {
				return // the client hung up: what it should do
			}
			n += m
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestHugeAnswerRefused: a datasource answering 300 MiB is refused once
// the limit is read, with an error that says what and where, and the
// memory used stays near the limit (it used to read the whole body: 4.5 GB
// of RSS with 8 concurrent queries).
func TestHugeAnswerRefused(t *testing.T) {
	const limit = 4 << 20
	for _, declare := range []bool{false, true} {
		srv := hugeAnswer(t, 300<<20, declare)
		c := newClient(t, Options{URL: srv.URL, MaxResponseSize: limit})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { _, errs[i] = c.Query(testContext(t), "up", evalTime) })
		}
		wg.Wait()
		runtime.ReadMemStats(&after)
		for _, err := range errs {
			require.ErrorIs(t, err, ErrResponseTooLarge)
			require.ErrorContains(t, err, `datasource "prom" (`+srv.URL+`): read response (HTTP 200): the answer is larger than max_response_size (4194304 bytes)`)
		}
		// Each query reads at most the limit (allocating a few times that
		// while its buffer doubles, more under the race detector); the
		// 2.4 GB sent are never held. Before the limit, reading them
		// allocated more than 2.4 GB.
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8*300<<20/4), "declared length %v", declare)
	}
}

func TestAnswerWithinLimitAccepted(t *testing.T) {
	srv := serve(t, http.StatusOK, vectorBody)
	c := newClient(t, Options{URL: srv.URL, MaxResponseSize: int64(len(vectorBody))})
	vec, err := c.Query(testContext(t), "up", evalTime)
	require.NoError(t, err)
	require.Len(t, vec, 1)
	c = newClient(t, Options{URL: srv.URL, MaxResponseSize: int64(len(vectorBody) - 1)})
	_, err = c.Query(testContext(t), "up", evalTime)
	require.ErrorIs(t, err, ErrResponseTooLarge)

	// Range queries have the same bound.
	big := hugeAnswer(t, 50<<20, false)
	c = newClient(t, Options{URL: big.URL, MaxResponseSize: 1 << 20})
	_, err = c.QueryRange(testContext(t), "up", evalTime.Add(-time.Hour), evalTime, time.Minute)
	require.ErrorIs(t, err, ErrResponseTooLarge)
}
