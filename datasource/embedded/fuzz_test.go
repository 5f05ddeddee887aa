package embedded

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fuzzValues is the number of values a fuzzed series file may expand to.
const fuzzValues = 10_000

// FuzzSeriesFile checks that the series-file parser never panics nor hangs,
// that what it accepts is valid, and that replaying it does not panic either.
// Files may expand to fuzzValues values only, so that each input is quick:
// the limit itself is tested by TestParseSeriesFileErrors.
func FuzzSeriesFile(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yml")
	require.NoError(f, err)
	for _, path := range files {
		b, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte("input_series: [{series: 'a{b=\"c\"}', values: '1+1x3 _ stale {{count:1 sum:2}}x1'}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Go's fuzzer does not notice a hang; make one a crash.
		watchdog := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("slow input %q", b)) })
		defer watchdog.Stop()
		sf, err := parseSeriesFile("fuzz.yml", b, fuzzValues)
		if err != nil {
			require.Nil(t, sf)
			return
		}
		require.Positive(t, sf.Interval)
		require.NotEmpty(t, sf.Series)
		for _, s := range sf.Series {
			require.False(t, s.Labels.IsEmpty())
			require.NotEmpty(t, s.Values)
		}
		rp := newReplay([]*SeriesFile{sf}, 0)
		rp.due(math.MaxInt64)
		_, more := rp.next()
		require.False(t, more)
	})
}
