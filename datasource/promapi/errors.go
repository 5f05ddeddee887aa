package promapi

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"
)

const (
	// redactedText replaces secrets, as in Prometheus' config.URL.Redacted.
	redactedText = "xxxxx"
	// minSecretLen is the length from which secrets are scrubbed out of
	// server-provided text. Shorter values (such as ?nocache=1) are not
	// meaningful secrets, and replacing them would garble every message.
	minSecretLen = 4
	// maxMessageLen bounds the error text taken from a Prometheus error body.
	maxMessageLen = 4096
	// excerptLen bounds the excerpt of an unexpected response body.
	excerptLen = 256
)

// APIError is a query that the datasource answered with an error: a non-2xx
// HTTP status, or status "error" in the body. All its text is redacted.
type APIError struct {
	// Datasource is the name of the datasource.
	Datasource string
	// URL is the datasource's base URL, redacted.
	URL string
	// StatusCode is the HTTP status code of the answer.
	StatusCode int
	// ErrorType is Prometheus' errorType, such as "bad_data", "execution",
	// "timeout" or "unavailable". It is empty if the body was not a
	// Prometheus error.
	ErrorType string
	// Message is the error text of a Prometheus error body.
	Message string
	// Body is a one-line excerpt of a body that was not a Prometheus error,
	// such as the HTML page of a proxy. It is empty otherwise.
	Body string
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "datasource %q (%s): query failed with HTTP %d", e.Datasource, e.URL, e.StatusCode)
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	if e.ErrorType != "" {
		b.WriteString(": " + e.ErrorType)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Body != "" || (e.ErrorType == "" && e.Message == "") {
		fmt.Fprintf(&b, ": response body %q", e.Body)
	}
	return b.String()
}

// queryError is any other failure of a query. Its text is prefixed with the
// datasource and redacted; Unwrap gives the underlying error, for errors.Is.
type queryError struct {
	msg string
	err error
}

func (e *queryError) Error() string { return e.msg }
func (e *queryError) Unwrap() error { return e.err }

// redactor removes the secrets of a datasource's configuration from text
// that did not come from us: transport errors and response bodies, which a
// proxy may fill with the request URL or headers.
type redactor struct {
	r *strings.Replacer
}

// newRedactor collects the secrets of u and cfg. Secrets read from files at
// request time are not known here; they never appear in our own messages.
func newRedactor(u *url.URL, cfg *commoncfg.HTTPClientConfig) redactor {
	var secrets []string
	add := func(s string) {
		if len(s) >= minSecretLen {
			secrets = append(secrets, s, url.QueryEscape(s), url.PathEscape(s))
		}
	}
	// A proxy may echo the Authorization header: cover basic auth's base64.
	addBasic := func(user, pass string) {
		add(pass)
		if pass != "" {
			add(base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)))
		}
	}
	if p, ok := u.User.Password(); ok {
		addBasic(u.User.Username(), p)
	}
	for _, kv := range strings.Split(u.RawQuery, "&") {
		_, v, _ := strings.Cut(kv, "=")
		add(v)
		if dv, err := url.QueryUnescape(v); err == nil {
			add(dv)
		}
	}
	add(string(cfg.BearerToken))
	if cfg.BasicAuth != nil {
		addBasic(cfg.BasicAuth.Username, string(cfg.BasicAuth.Password))
	}
	if cfg.Authorization != nil {
		add(string(cfg.Authorization.Credentials))
	}
	if cfg.OAuth2 != nil {
		add(string(cfg.OAuth2.ClientSecret))
	}
	if cfg.HTTPHeaders != nil {
		for _, h := range cfg.HTTPHeaders.Headers {
			for _, s := range h.Secrets {
				add(string(s))
			}
		}
	}
	if len(secrets) == 0 {
		return redactor{}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	secrets = slices.Compact(secrets)
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, redactedText)
	}
	return redactor{r: strings.NewReplacer(pairs...)}
}

func (r redactor) scrub(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// redactURL returns u without its password, query values and fragment.
func redactURL(u *url.URL) string {
	ru := *u
	if _, ok := ru.User.Password(); ok {
		ru.User = url.UserPassword(ru.User.Username(), redactedText)
	}
	if ru.RawQuery != "" {
		params := strings.Split(ru.RawQuery, "&")
		for i, p := range params {
			if name, _, _ := strings.Cut(p, "="); p != "" {
				params[i] = name + "=" + redactedText
			}
		}
		ru.RawQuery = strings.Join(params, "&")
	}
	ru.ForceQuery = false
	ru.Fragment, ru.RawFragment = "", ""
	return ru.String()
}

// unwrapURLError strips the *url.Error that net/http wraps around transport
// errors: its text holds the full request URL, query parameters included.
func unwrapURLError(err error) error {
	var ue *url.Error
	for errors.As(err, &ue) {
		err = ue.Err
	}
	return err
}

// isConnReset reports whether err is a transport failure that a stale
// keep-alive connection causes: the peer closed or reset it while the
// request was under way.
func isConnReset(err error) bool {
	return errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) ||
		// net/http's errServerClosedIdle is not exported.
		strings.Contains(err.Error(), "server closed idle connection")
}

// oneLine makes s safe to show on one line: invalid UTF-8 and control
// characters are replaced and white space runs collapse to one space. It
// stops once the result is longer than limit bytes.
func oneLine(s string, limit int) string {
	var b strings.Builder
	space := false
	for _, r := range s { // invalid UTF-8 yields U+FFFD
		if b.Len() > limit {
			break
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// truncate cuts s to at most n bytes at a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// excerpt returns the start of an unexpected body, scrubbed, on one line.
// The whole body is scrubbed before it is cut, so that no part of a secret
// across the cut survives.
func (r redactor) excerpt(body []byte) string {
	return truncate(oneLine(r.scrub(string(body)), excerptLen), excerptLen)
}

// message cleans the error text of a Prometheus error body.
func (r redactor) message(s string) string {
	return truncate(oneLine(r.scrub(s), maxMessageLen), maxMessageLen)
}
