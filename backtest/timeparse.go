package backtest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// ParseTime reads a --from or --to value: "now", a time relative to now
// ("-7d", "now-2h30m", "+1h"; Prometheus duration units ms, s, m, h, d, w,
// y), an RFC 3339 time ("2024-05-01T12:00:00Z") or Unix seconds
// ("1714564800", as Prometheus' API takes them).
func ParseTime(s string, now time.Time) (time.Time, error) {
	in := strings.TrimSpace(s)
	rel := strings.TrimPrefix(in, "now")
	switch {
	case rel == "":
		if in == "" {
			return time.Time{}, fmt.Errorf("%w: empty time", ErrInvalid)
		}
		return now, nil
	case rel[0] == '-' || rel[0] == '+':
		d, err := model.ParseDuration(rel[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: time %q: %w", ErrInvalid, s, err)
		}
		if rel[0] == '-' {
			return now.Add(-time.Duration(d)), nil
		}
		return now.Add(time.Duration(d)), nil
	case rel != in:
		return time.Time{}, fmt.Errorf("%w: time %q: want now, now-DURATION or now+DURATION", ErrInvalid, s)
	}
	if t, err := time.Parse(time.RFC3339Nano, in); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(in, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1e12 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%w: time %q: want RFC 3339 (2006-01-02T15:04:05Z), Unix seconds, now or a relative time such as -7d", ErrInvalid, s)
}

// ParseStep reads a --step value: a Prometheus duration ("1m", "90s",
// "1h30m") or a number of seconds, as Prometheus' API takes the step of a
// range query. The empty string is 0: each group's own interval.
func ParseStep(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if d, err := model.ParseDuration(s); err == nil && d > 0 {
		return time.Duration(d), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0.001 && f < 1e9 {
		return time.Duration(math.Round(f*1e3)) * time.Millisecond, nil
	}
	return 0, fmt.Errorf("%w: step %q: want a positive duration such as 1m or a number of seconds", ErrInvalid, s)
}
