package promapi

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/promql"
)

// MaxRangePoints is the most steps a range query may span: Prometheus
// refuses a query whose (end-start)/step exceeds 11,000 ("exceeded maximum
// resolution of 11,000 points per timeseries"). Callers split longer
// ranges.
const MaxRangePoints = 11000

// QueryRange runs expr at every step from start to end (both included),
// through POST <URL>/api/v1/query_range, and returns the result matrix: one
// series per label set, its points in time order. A point carrying a native
// histogram is returned with F = 0, as Query does. Warnings are ignored.
//
// Timeouts, retries, redaction and errors are as for Query: an answer with
// an error status is an *APIError; the query is retried once only when a
// kept-alive connection turns out to be dead.
func (c *Client) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) (promql.Matrix, error) {
	if step <= 0 {
		return nil, fmt.Errorf("%s: range query step must be positive", c.prefix)
	}
	if end.Before(start) {
		return nil, fmt.Errorf("%s: range query end is before its start", c.prefix)
	}
	endpoint, err := c.rangeEndpoint()
	if err != nil {
		return nil, c.fail(err)
	}
	var m promql.Matrix
	err = c.do(ctx, endpoint, rangeFormBody(expr, start, end, step), func(code int, body []byte) error {
		m, err = c.rangeResult(code, body)
		return err
	})
	return m, err
}

// rangeEndpoint returns <URL>/api/v1/query_range with the URL's query
// parameters, from the instant query endpoint.
func (c *Client) rangeEndpoint() (string, error) {
	u, err := url.Parse(c.endpoint)
	if err != nil {
		return "", unwrapURLError(err)
	}
	u.Path += "_range"
	if u.RawPath != "" {
		u.RawPath += "_range"
	}
	return u.String(), nil
}

// rangeFormBody encodes query, start, end (seconds with three decimals) and
// step (seconds).
func rangeFormBody(expr string, start, end time.Time, step time.Duration) string {
	var b strings.Builder
	b.Grow(len(expr) + len(expr)/4 + 64)
	b.WriteString("query=")
	b.WriteString(url.QueryEscape(expr))
	b.WriteString("&start=")
	b.Write(appendTime(make([]byte, 0, 24), start))
	b.WriteString("&end=")
	b.Write(appendTime(make([]byte, 0, 24), end))
	b.WriteString("&step=")
	b.WriteString(strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	return b.String()
}

// do sends form to endpoint until parse accepts an answer or the query
// fails for good, with Query's timeout and retry rules.
func (c *Client) do(ctx context.Context, endpoint, form string, parse func(code int, body []byte) error) error {
	timeout := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), 0)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		reused, err := c.attemptTo(ctx, endpoint, form, parse)
		if err == nil {
			return nil
		}
		var apiErr *APIError
		switch {
		case errors.As(err, &apiErr):
			return err
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return c.fail(fmt.Errorf("query timed out after %s: %w", timeout.Round(time.Millisecond), ctx.Err()))
		case ctx.Err() != nil:
			return c.fail(fmt.Errorf("query canceled: %w", context.Cause(ctx)))
		case attempt == 1 && reused && isConnReset(err):
			continue // a stale keep-alive connection: try a fresh one
		case attempt > 1:
			return c.fail(fmt.Errorf("after a retry: %w", err))
		default:
			return c.fail(err)
		}
	}
}

// attemptTo sends the query once and hands the answer to parse. reused
// reports whether the request went over a kept-alive connection and failed
// before an answer came.
func (c *Client) attemptTo(ctx context.Context, endpoint, form string, parse func(int, []byte) error) (reused bool, err error) {
	var reusedConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		reusedConn.Store(info.Reused)
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace),
		http.MethodPost, endpoint, strings.NewReader(form))
	if err != nil {
		return false, unwrapURLError(err)
	}
	req.Header = c.header
	resp, err := c.send(req)
	if err != nil {
		return reusedConn.Load(), fmt.Errorf("request failed: %w", unwrapURLError(err))
	}
	defer resp.Body.Close()

	buf := bufPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			buf.Reset()
			bufPool.Put(buf)
		}
	}()
	buf.Reset()
	ok := resp.StatusCode/100 == 2
	if err := c.readBody(buf, resp, ok); err != nil {
		return reusedConn.Load(), fmt.Errorf("read response (HTTP %d): %w", resp.StatusCode, unwrapURLError(err))
	}
	return false, parse(resp.StatusCode, buf.Bytes())
}

// decodeRangeResponse decodes the body of a query_range answer. On
// success, the caller owns r.matrix.
func decodeRangeResponse(body []byte) (response, error) {
	d := decoderPool.Get().(*decoder)
	d.wantMatrix = true
	r, err := d.decode(body)
	d.wantMatrix = false
	d.s.buf = nil
	decoderPool.Put(d)
	return r, err
}

// rangeResult interprets a query_range answer, as result does an instant
// one.
func (c *Client) rangeResult(code int, body []byte) (promql.Matrix, error) {
	r, err := decodeRangeResponse(body)
	if code/100 != 2 || (err == nil && r.status == "error") {
		return nil, c.apiError(code, r, err, body)
	}
	if err != nil {
		return nil, errors.New(c.red.scrub(fmt.Sprintf("invalid response (HTTP %d): %v; body: %q",
			code, err, c.red.excerpt(body))))
	}
	if r.status != "success" {
		return nil, fmt.Errorf("invalid response (HTTP %d): status %q", code, c.red.message(r.status))
	}
	switch r.resultType {
	case "matrix":
		if !r.hasResult {
			return nil, errors.New("invalid response: no data.result")
		}
		return r.matrix, nil
	case "":
		return nil, errors.New("invalid response: no data.resultType")
	default:
		return nil, fmt.Errorf("range query result is not a matrix (got %s)", c.red.message(r.resultType))
	}
}

// matrix decodes data.result of a range query.
func (d *decoder) matrix(r *response) error {
	r.matrix = nil
	m := promql.Matrix{}
	err := d.array(func() error {
		s, err := d.series()
		if err != nil {
			return fmt.Errorf("series %d: %w", len(m), err)
		}
		m = append(m, s)
		return nil
	})
	if err != nil {
		return err
	}
	r.matrix = m
	return nil
}

// series decodes one series of a matrix: its labels, "values" and
// "histograms". Histogram points become F = 0 and are merged into the float
// points in time order.
func (d *decoder) series() (promql.Series, error) {
	var s promql.Series
	if err := d.s.consume('{'); err != nil {
		return s, err
	}
	hasMetric := false
	var hist []promql.FPoint
	for first := true; ; first = false {
		more, err := d.s.more('}', first)
		if err != nil {
			return s, err
		}
		if !more {
			break
		}
		k, err := d.s.key()
		if err != nil {
			return s, err
		}
		switch string(k) {
		case "metric":
			hasMetric = true
			s.Metric, err = d.metric()
		case "values":
			s.Floats, err = d.points(s.Floats, false)
		case "histograms":
			hist, err = d.points(hist, true)
		default:
			err = d.s.skip(4)
		}
		if err != nil {
			return s, err
		}
	}
	if !hasMetric {
		return s, errors.New("no metric")
	}
	if len(hist) > 0 {
		s.Floats = append(s.Floats, hist...)
		slices.SortStableFunc(s.Floats, func(a, b promql.FPoint) int { return cmp.Compare(a.T, b.T) })
	}
	return s, nil
}

// points decodes an array of [timestamp, "value"] pairs (or, for
// histograms, [timestamp, {histogram}] pairs, whose value becomes 0).
func (d *decoder) points(dst []promql.FPoint, histograms bool) ([]promql.FPoint, error) {
	if d.s.null() {
		return dst, nil
	}
	if err := d.s.consume('['); err != nil {
		return dst, err
	}
	for first := true; ; first = false {
		more, err := d.s.more(']', first)
		if err != nil {
			return dst, err
		}
		if !more {
			return dst, nil
		}
		var p promql.FPoint
		if histograms {
			p.T, err = d.histogram()
		} else {
			p.T, p.F, err = d.pair()
		}
		if err != nil {
			return dst, fmt.Errorf("point %d: %w", len(dst), err)
		}
		dst = append(dst, p)
	}
}
