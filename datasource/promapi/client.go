// Package promapi is a client for the Prometheus HTTP query API
// (POST /api/v1/query), as served by Prometheus, Thanos, Mimir and
// VictoriaMetrics. Client implements the evaluator's Querier: it runs an
// instant query and returns the result as a promql.Vector, a scalar being one
// sample without labels, as Prometheus' rules.EngineQueryFunc does.
//
// Queries are the evaluator's hot path (thousands of rules every few
// seconds), so answers are decoded by a small purpose-built JSON scanner
// into pooled buffers rather than through reflection.
//
// Errors name the datasource and its redacted URL and never contain the
// URL's password or query values, nor the configured credentials: net/http's
// *url.Error is unwrapped, and text that came from the network is scrubbed.
package promapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/promql"
)

const (
	defaultTimeout   = 30 * time.Second
	defaultUserAgent = "alerter"
	// maxErrorBody bounds how much of a non-2xx body is read.
	maxErrorBody = 1 << 20
	// maxPooledBuffer bounds the buffers kept for reuse, so that one huge
	// answer does not pin its memory forever.
	maxPooledBuffer = 4 << 20
	// DefaultMaxResponseSize bounds an answer's body when
	// Options.MaxResponseSize is zero: about 100,000 series of a dozen
	// labels, far more than an alerting rule should return, and little
	// enough that concurrent queries to a hostile or broken API cannot
	// exhaust memory.
	DefaultMaxResponseSize = 32 << 20
)

// ErrResponseTooLarge is the error of an answer larger than the client's
// MaxResponseSize.
var ErrResponseTooLarge = errors.New("the answer is larger than max_response_size")

// Options configure a Client.
type Options struct {
	// Name is the datasource name, used in error messages.
	Name string
	// URL is the base URL, such as http://localhost:9090 or
	// https://host/prefix; queries go to <URL>/api/v1/query. Its query
	// parameters are sent with every query. A user and password in it are
	// sent as basic authentication.
	URL string
	// Timeout bounds each query; 0 means 30s.
	Timeout time.Duration
	// HTTPConfig sets authentication, TLS, proxy and headers. Start from
	// commoncfg.DefaultHTTPClientConfig to get Prometheus' defaults
	// (follow redirects, HTTP/2).
	HTTPConfig commoncfg.HTTPClientConfig
	// UserAgent is sent with every query; empty means "alerter".
	UserAgent string
	// MaxResponseSize bounds the body of an answer, in bytes; a larger
	// one fails the query with ErrResponseTooLarge. 0 means
	// DefaultMaxResponseSize.
	MaxResponseSize int64
}

// Client queries one Prometheus-compatible datasource. It is safe for
// concurrent use.
type Client struct {
	name     string
	endpoint string // <URL>/api/v1/query, with the URL's query parameters
	redacted string
	prefix   string // datasource "name" (redacted URL)
	timeout  time.Duration
	maxBody  int64
	// rt sends queries; http (which follows redirects when configured) is
	// used only for a query whose answer is a redirect. Going to the
	// round tripper directly saves http.Client's per-request header copies.
	rt     http.RoundTripper
	http   *http.Client
	follow bool
	// header is shared by every request and never modified.
	header http.Header
	red    redactor
}

// New returns a Client for opts. It does not contact the datasource.
func New(opts Options) (*Client, error) {
	if opts.Name == "" {
		return nil, errors.New("datasource name must be set")
	}
	u, err := url.Parse(opts.URL)
	if err != nil {
		// The *url.Error would repeat the URL with its secrets.
		return nil, fmt.Errorf("datasource %q: invalid url: %w", opts.Name, unwrapURLError(err))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("datasource %q: url %s must be an absolute http or https URL", opts.Name, redactURL(u))
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("datasource %q: timeout must not be negative", opts.Name)
	}
	if opts.MaxResponseSize < 0 {
		return nil, fmt.Errorf("datasource %q: max_response_size must not be negative", opts.Name)
	}
	cfg := opts.HTTPConfig
	red := newRedactor(u, &cfg)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("datasource %q: http_config: %s", opts.Name, red.scrub(err.Error()))
	}
	ua := cmp.Or(opts.UserAgent, defaultUserAgent)
	// The User-Agent goes in the shared header rather than through
	// commoncfg.WithUserAgent, whose round tripper clones every request.
	hc, err := commoncfg.NewClientFromConfig(cfg, "alerter")
	if err != nil {
		return nil, fmt.Errorf("datasource %q: http_config: %s", opts.Name, red.scrub(err.Error()))
	}
	ep := *u
	ep.Path = strings.TrimRight(u.Path, "/") + "/api/v1/query"
	if u.RawPath != "" {
		ep.RawPath = strings.TrimRight(u.RawPath, "/") + "/api/v1/query"
	}
	ep.Fragment, ep.RawFragment = "", ""
	redacted := redactURL(u)
	c := &Client{
		name:     opts.Name,
		endpoint: ep.String(),
		redacted: redacted,
		prefix:   fmt.Sprintf("datasource %q (%s)", opts.Name, redacted),
		timeout:  cmp.Or(opts.Timeout, defaultTimeout),
		maxBody:  cmp.Or(opts.MaxResponseSize, DefaultMaxResponseSize),
		rt:       hc.Transport,
		http:     hc,
		follow:   cfg.FollowRedirects,
		header: http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"},
			"Accept":       {"application/json"},
			"User-Agent":   {ua},
		},
		red: red,
	}
	if u.User != nil {
		// What http.Client does for a URL with a user: basic auth, unless
		// the request has an Authorization header already.
		pass, _ := u.User.Password()
		c.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)))
	}
	return c, nil
}

// String returns the datasource's URL, redacted.
func (c *Client) String() string { return c.redacted }

// CloseIdleConnections closes the kept-alive connections that are idle. Call
// it when a reload drops the Client.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Query runs the instant query expr at ts and returns its result: a vector,
// or a scalar as one sample with empty labels. Any other result type is an
// error. A sample with a native histogram is returned with its labels and
// timestamp, F = 0 and H = nil. Warnings in the answer are ignored.
//
// The query is bounded by the Client's timeout and by ctx. It is retried once
// if a kept-alive connection turns out to be dead (reset, EOF, broken pipe);
// HTTP error statuses and timeouts are never retried.
func (c *Client) Query(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
	timeout := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), 0)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	form := formBody(expr, ts)
	for attempt := 1; ; attempt++ {
		vec, reused, err := c.attempt(ctx, form)
		if err == nil {
			return vec, nil
		}
		var apiErr *APIError
		switch {
		case errors.As(err, &apiErr):
			return nil, err
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return nil, c.fail(fmt.Errorf("query timed out after %s: %w", timeout.Round(time.Millisecond), ctx.Err()))
		case ctx.Err() != nil:
			return nil, c.fail(fmt.Errorf("query canceled: %w", context.Cause(ctx)))
		case attempt == 1 && reused && isConnReset(err):
			continue // a stale keep-alive connection: try a fresh one
		case attempt > 1:
			return nil, c.fail(fmt.Errorf("after a retry: %w", err))
		default:
			return nil, c.fail(err)
		}
	}
}

// fail prefixes err with the datasource and scrubs secrets from its text.
func (c *Client) fail(err error) error {
	return &queryError{msg: c.prefix + ": " + c.red.scrub(err.Error()), err: err}
}

// formBody encodes the query form: query=<expr>&time=<seconds.millis>.
func formBody(expr string, ts time.Time) string {
	var b strings.Builder
	b.Grow(len(expr) + len(expr)/4 + 32)
	b.WriteString("query=")
	b.WriteString(url.QueryEscape(expr))
	b.WriteString("&time=")
	b.Write(appendTime(make([]byte, 0, 24), ts))
	return b.String()
}

// appendTime formats ts as Unix seconds with exactly three decimals.
func appendTime(b []byte, ts time.Time) []byte {
	ms := ts.UnixMilli()
	abs := uint64(ms)
	if ms < 0 {
		b = append(b, '-')
		abs = uint64(-ms)
	}
	b = strconv.AppendUint(b, abs/1000, 10)
	frac := abs % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// bufPool recycles response buffers across queries.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// attempt sends the query once. reused reports whether it went over a
// kept-alive connection, for the retry decision.
func (c *Client) attempt(ctx context.Context, form string) (vec promql.Vector, reused bool, err error) {
	var reusedConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		reusedConn.Store(info.Reused)
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace),
		http.MethodPost, c.endpoint, strings.NewReader(form))
	if err != nil {
		return nil, false, unwrapURLError(err)
	}
	req.Header = c.header
	resp, err := c.send(req)
	if err != nil {
		return nil, reusedConn.Load(), fmt.Errorf("request failed: %w", unwrapURLError(err))
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
		return nil, reusedConn.Load(), fmt.Errorf("read response (HTTP %d): %w", resp.StatusCode, unwrapURLError(err))
	}
	vec, err = c.result(resp.StatusCode, buf.Bytes())
	return vec, false, err
}

// send sends req through the round tripper, and again through the client
// when the answer is a redirect to follow.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(req)
	if err != nil || !c.follow || !isRedirect(resp.StatusCode) {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	again := req.Clone(req.Context())
	if again.Body, err = req.GetBody(); err != nil {
		return nil, err
	}
	return c.http.Do(again)
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// readBody reads a 2xx body whole, up to the client's limit, and at most
// maxErrorBody of any other.
func (c *Client) readBody(buf *bytes.Buffer, resp *http.Response, ok bool) error {
	if !ok {
		_, err := buf.ReadFrom(io.LimitReader(resp.Body, maxErrorBody))
		// Drain a little more so that the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		return err
	}
	limit := int(c.maxBody)
	if resp.ContentLength > int64(limit) {
		return c.tooLarge()
	}
	b := buf.AvailableBuffer()
	if resp.ContentLength > 0 && int(resp.ContentLength) >= cap(b) {
		b = make([]byte, 0, int(resp.ContentLength)+1) // +1: to see the end
	}
	b, err := readAtMost(resp.Body, b, limit)
	*buf = *bytes.NewBuffer(b)
	if err == nil && len(b) > limit {
		return c.tooLarge()
	}
	return err
}

func (c *Client) tooLarge() error {
	return fmt.Errorf("%w (%d bytes): narrow the query, or raise the datasource's limit", ErrResponseTooLarge, c.maxBody)
}

// readAtMost appends what r holds to b, until EOF or until b holds more
// than limit bytes. Unlike bytes.Buffer.ReadFrom it never grows b past
// limit+1: an answer that is too large costs the limit, not twice it.
func readAtMost(r io.Reader, b []byte, limit int) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			if len(b) > limit {
				return b, nil
			}
			nb := make([]byte, len(b), min(max(2*cap(b), 4096), limit+1))
			copy(nb, b)
			b = nb
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// result interprets an answer's status code and body. Errors other than
// *APIError are not yet prefixed with the datasource.
func (c *Client) result(code int, body []byte) (promql.Vector, error) {
	r, err := decodeResponse(body)
	if code/100 != 2 || (err == nil && r.status == "error") {
		return nil, c.apiError(code, r, err, body)
	}
	if err != nil {
		// Not wrapped: decoding errors may quote the body, so only the
		// scrubbed text is kept.
		return nil, errors.New(c.red.scrub(fmt.Sprintf("invalid response (HTTP %d): %v; body: %q",
			code, err, c.red.excerpt(body))))
	}
	if r.status != "success" {
		return nil, fmt.Errorf("invalid response (HTTP %d): status %q", code, c.red.message(r.status))
	}
	switch r.resultType {
	case "vector", "scalar":
		if !r.hasResult {
			return nil, errors.New("invalid response: no data.result")
		}
		return r.vector, nil
	case "":
		return nil, errors.New("invalid response: no data.resultType")
	default:
		return nil, fmt.Errorf("%w (got %s)", errNotVector, c.red.message(r.resultType))
	}
}

// apiError builds the error for a non-2xx answer or a status "error".
func (c *Client) apiError(code int, r response, decodeErr error, body []byte) *APIError {
	e := &APIError{Datasource: c.name, URL: c.redacted, StatusCode: code}
	if decodeErr == nil && (r.status == "error" || r.errorMsg != "") {
		e.ErrorType = c.red.message(r.errorType)
		e.Message = c.red.message(r.errorMsg)
		return e
	}
	e.Body = c.red.excerpt(body)
	return e
}
