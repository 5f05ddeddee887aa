package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
)

// The web UI: server-rendered pages (html/template, so every label,
// annotation and comment is escaped), a little CSS and JavaScript, all
// embedded: nothing is loaded from the internet.

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// contentSecurityPolicy forbids inline scripts and styles and anything
// from another origin.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'self'; object-src 'none'"

// uiPages are the templates of templates/, each executed inside layout.html.
var uiPages = []string{
	"alerts", "alert", "silences", "silence", "silence_form", "rules", "routes", "notifications", "status", "error",
}

// ui serves the web UI pages.
type ui struct {
	h     *handler
	base  string // the external URL's path, "" for the root
	pages map[string]*template.Template
	// assetVersion changes with the embedded assets, so that they can be
	// cached for long.
	assetVersion string
	// gzips are reused: a gzip.Writer costs hundreds of kilobytes.
	gzips sync.Pool
	// tests keeps receiver tests' results for the page after the redirect.
	tests testResults
}

// registerUI adds the web UI's routes to mux.
func (h *handler) registerUI(mux *http.ServeMux) *ui {
	u := newUI(h)
	page := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, u.secure(f)) }
	page("GET /{$}", u.alerts)
	page("GET /alerts/{fingerprint}", u.alertPage)
	page("GET /alerts/labels", u.alertLabels)
	page("GET /silences", u.silences)
	page("GET /silences/new", u.newSilence)
	page("GET /silences/preview", u.silencePreview)
	page("POST /silences", u.saveSilence)
	page("GET /silences/{id}", u.silence)
	page("GET /silences/{id}/edit", u.editSilence)
	page("POST /silences/{id}/expire", u.expireSilence)
	page("POST /silences/expire", u.expireSilences)
	page("GET /rules", u.rules)
	page("GET /routes", u.routes)
	page("GET /notifications", u.notifications)
	page("GET /status", u.status)
	page("POST /status/receivers/{name}/test", u.testReceiver)
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	mux.Handle("GET /static/", http.StripPrefix("/static", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") == u.assetVersion {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})))
	return u
}

func newUI(h *handler) *ui {
	u := &ui{h: h, base: prefix(h.opts.ExternalURL), pages: map[string]*template.Template{}, gzips: sync.Pool{New: newGzipWriter}}
	sum := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(p)
			sum.Write(b)
		}
		return nil
	})
	u.assetVersion = hex.EncodeToString(sum.Sum(nil))[:12]

	layout := template.Must(template.New("layout.html").Funcs(u.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/parts.html"))
	for _, name := range uiPages {
		u.pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
	}
	return u
}

// secure adds the UI's security headers. Cross-site form posts are refused
// for every endpoint by handler.crossOrigin.
func (u *ui) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// pageData is what layout.html gets; Data is the page's own.
type pageData struct {
	Title string
	// Nav is the navigation entry to highlight.
	Nav  string
	Data any
}

// render executes a page into a buffer first, so that a template error
// never leaves half a page.
func (u *ui) render(w http.ResponseWriter, r *http.Request, status int, name string, p pageData) {
	u.renderPart(w, r, status, name, "layout", p)
}

// renderPart executes one template of a page (the whole page is
// "layout"; the page's script fetches parts, as the alerts page's live
// part) into a buffer, and sends it, gzipped if the client takes it.
func (u *ui) renderPart(w http.ResponseWriter, r *http.Request, status int, page, name string, data any) {
	var buf bytes.Buffer
	if err := u.pages[page].ExecuteTemplate(&buf, name, data); err != nil {
		u.h.opts.Logger.Error("Rendering a page failed", "page", page, "part", name, "err", err)
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Add("Vary", "Accept-Encoding")
	body := buf.Bytes()
	if len(body) >= gzipMin && acceptsGzip(r) {
		var zbuf bytes.Buffer
		zw := u.gzips.Get().(*gzip.Writer)
		zw.Reset(&zbuf)
		_, _ = zw.Write(body)
		if zw.Close() == nil {
			body = zbuf.Bytes()
			hd.Set("Content-Encoding", "gzip")
		}
		u.gzips.Put(zw)
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// gzipMin is the smallest page worth compressing.
const gzipMin = 1024

func newGzipWriter() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// fail renders an error page.
func (u *ui) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	u.render(w, r, status, "error", pageData{Title: http.StatusText(status), Data: struct {
		Status  int
		Message string
	}{status, err.Error()}})
}

// url returns the path p (which starts with "/") under the external URL.
func (u *ui) url(p string) string { return u.base + p }

func (u *ui) funcs() template.FuncMap {
	return template.FuncMap{
		"u":      u.url,
		"asset":  func(p string) string { return u.url("/static/" + p + "?v=" + u.assetVersion) },
		"ago":    func(t time.Time) string { return relTime(time.Now(), t) },
		"abs":    absTime,
		"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"dur":    fmtDuration,
		"secs":   func(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) },
		"pairs":  sortedPairs,
		"expr":   labelSetExpr,
		"commas": commas,
		"plural": plural,
		"list":   func(s ...string) []string { return s },
	}
}

// plural picks the word for n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// pair is one label or annotation, for templates.
type pair struct{ Name, Value string }

// sortedPairs returns a label set's labels sorted by name.
func sortedPairs(ls model.LabelSet) []pair {
	out := make([]pair, 0, len(ls))
	for n, v := range ls {
		out = append(out, pair{string(n), string(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// labelSetExpr writes a label set as a matcher expression that selects it,
// {a="1", b="2"}, which the silence form and the filter box read back.
func labelSetExpr(ls model.LabelSet) string {
	parts := make([]string, 0, len(ls))
	for _, p := range sortedPairs(ls) {
		parts = append(parts, matcherString(p.Name, labels.MatchEqual, p.Value))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// matcherString writes a matcher as labels.Matcher.String does, without
// its cost (it builds a strings.Replacer per call) in the common case: a
// plain name and a value with nothing to escape.
func matcherString(name string, op labels.MatchType, value string) string {
	if model.LegacyValidation.IsValidLabelName(name) && !strings.ContainsAny(value, "\\\n\"") {
		return name + op.String() + `"` + value + `"`
	}
	return (&labels.Matcher{Type: op, Name: name, Value: value}).String()
}

// parseMatcherExpr parses what a user typed into a filter or matcher box:
// {a="b", c=~"d.*"}, with or without braces, as Alertmanager's API parses
// matchers. An empty box is no matcher.
func parseMatcherExpr(syn config.MatcherSyntax, s string) (labels.Matchers, error) {
	s = strings.TrimSpace(strings.NewReplacer("\r\n", " ", "\n", " ").Replace(s))
	if s == "" || s == "{}" {
		return nil, nil
	}
	ms, err := syn.ParseMatchers(s)
	if err != nil {
		return nil, fmt.Errorf("bad matcher syntax in %q: %w (write matchers as {name=\"value\", other=~\"regex.*\"})", s, err)
	}
	return ms, nil
}

// relTime says how long before or after now t is: "5m ago", "in 2h".
func relTime(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d >= 0 {
		if d < time.Second {
			return "just now"
		}
		return fmtDuration(d) + " ago"
	}
	return "in " + fmtDuration(-d)
}

// fmtDuration rounds d to its two largest units: "3d 4h", "5m 10s", "250ms".
func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	d = d.Round(time.Second)
	units := []struct {
		n string
		d time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}}
	var parts []string
	for _, un := range units {
		if d >= un.d {
			parts = append(parts, fmt.Sprintf("%d%s", d/un.d, un.n))
			d %= un.d
		}
		if len(parts) == 2 || (len(parts) == 1 && d < time.Second) {
			break
		}
	}
	return strings.Join(parts, " ")
}

// absTime is a time in UTC to the second.
func absTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// commas writes n with thousands separators.
func commas(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + commas(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// withQuery returns p with the query q, dropping empty values.
func withQuery(p string, q map[string]string) string {
	v := url.Values{}
	for k, x := range q {
		if x != "" {
			v.Set(k, x)
		}
	}
	if len(v) == 0 {
		return p
	}
	return p + "?" + v.Encode()
}
