package notifiers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/template"
	commoncfg "github.com/prometheus/common/config"
	gomail "gopkg.in/mail.v2"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

// Email sends notifications as mail through an SMTP smarthost, as
// Alertmanager's email integration does: the same headers, templates,
// TLS and authentication choices.
//
// The message (MIME parts, header encoding, Date) is built with
// gopkg.in/mail.v2. The SMTP conversation is net/smtp's, on a connection
// Email dials itself: mail.v2's Dialer takes no context, dials through a
// package variable and sets its timeout only after the server's greeting,
// so a server that accepts and stays silent would hold a delivery (and
// its flush) forever. Here the connection has the context's deadline and
// is closed when the context is done.
type Email struct {
	conf       *config.EmailConfig
	tmpl       *template.Template
	logger     *slog.Logger
	hostname   string
	host, port string
	// slots bounds the connections open at once to the smarthost, as the
	// webhook's does: thousands of groups flushing together would
	// otherwise open as many, and mail servers limit connections per
	// client.
	slots chan struct{}
}

// maxEmailConnections is how many connections one email integration has
// open at once.
const maxEmailConnections = 8

// EmailOption configures an Email.
type EmailOption func(*Email)

// EmailLogger sets the logger (debug messages only; failures are returned).
func EmailLogger(l *slog.Logger) EmailOption { return func(e *Email) { e.logger = l } }

// EmailHostname sets the host name in generated Message-Ids (by default
// the machine's, as in Alertmanager).
func EmailHostname(h string) EmailOption { return func(e *Email) { e.hostname = h } }

// NewEmail returns an email notifier for cfg, whose smarthost was checked
// by config.DecodeEmailConfigs.
func NewEmail(cfg *config.EmailConfig, tmpl *template.Template, opts ...EmailOption) *Email {
	e := &Email{conf: cfg, tmpl: tmpl, logger: slog.New(slog.DiscardHandler),
		slots: make(chan struct{}, maxEmailConnections)}
	e.host, e.port, _ = net.SplitHostPort(cfg.Smarthost)
	if h, err := os.Hostname(); err == nil {
		e.hostname = h
	} else {
		e.hostname = "localhost.localdomain"
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

// envelope is a rendered message and its SMTP envelope.
type envelope struct {
	from string
	to   []string
	msg  *gomail.Message
}

// Notify implements dispatch.Notifier. The message is rendered before
// anything is dialled: a template error is final and costs no connection.
// SMTP 4xx replies and connection failures may be retried; 5xx replies
// and configuration problems may not. Errors never show the password or
// the secret.
func (e *Email) Notify(ctx context.Context, b *dispatch.Batch) (bool, error) {
	env, err := e.render(Data(e.tmpl, b, b.Alerts))
	if err != nil {
		return false, e.redact(&dispatch.ReasonError{Err: err, Why: dispatch.ReasonClientError})
	}
	select {
	case e.slots <- struct{}{}:
		defer func() { <-e.slots }()
	case <-ctx.Done():
		return true, fmt.Errorf("waiting for a free connection: %w", ctx.Err())
	}
	retry, err := e.send(ctx, env)
	return retry, e.redact(err)
}

// addressHeaders hold address lists: their display names are encoded one
// by one, so that the addresses stay readable to mail software.
var addressHeaders = []string{"From", "To", "Cc", "Bcc", "Reply-To", "Sender"}

// render executes the templates: envelope, headers and parts.
func (e *Email) render(data *template.Data) (*envelope, error) {
	from, err := e.tmpl.ExecuteTextString(e.conf.From, data)
	if err != nil {
		return nil, fmt.Errorf("execute 'from' template: %w", err)
	}
	to, err := e.tmpl.ExecuteTextString(e.conf.To, data)
	if err != nil {
		return nil, fmt.Errorf("execute 'to' template: %w", err)
	}
	env := &envelope{msg: gomail.NewMessage()}
	addrs, err := mail.ParseAddressList(from)
	if err != nil {
		return nil, fmt.Errorf("parse 'from' addresses: %w", err)
	}
	if len(addrs) != 1 {
		return nil, fmt.Errorf("must be exactly one 'from' address (got: %d)", len(addrs))
	}
	env.from = addrs[0].Address
	if addrs, err = mail.ParseAddressList(to); err != nil {
		return nil, fmt.Errorf("parse 'to' addresses: %w", err)
	}
	for _, a := range addrs {
		env.to = append(env.to, a.Address)
	}
	if err := e.renderHeaders(env.msg, data); err != nil {
		return nil, err
	}
	return env, e.renderBody(env.msg, data)
}

// renderHeaders sets the templated headers, then Message-Id and Date
// unless the configuration sets them.
func (e *Email) renderHeaders(m *gomail.Message, data *template.Data) error {
	names := make([]string, 0, len(e.conf.Headers))
	for name := range e.conf.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v, err := e.tmpl.ExecuteTextString(e.conf.Headers[name], data)
		if err != nil {
			return fmt.Errorf("execute %q header template: %w", name, err)
		}
		if slices.Contains(addressHeaders, name) {
			if list, err := mail.ParseAddressList(v); err == nil {
				vs := make([]string, len(list))
				for i, a := range list {
					vs[i] = m.FormatAddress(a.Address, a.Name)
				}
				m.SetHeader(name, vs...)
				continue
			}
		}
		// Q-encoded where needed, as Alertmanager does.
		m.SetHeader(name, v)
	}
	if _, ok := e.conf.Headers["Message-Id"]; !ok {
		m.SetHeader("Message-Id", fmt.Sprintf("<%d.%d@%s>", time.Now().UnixNano(), rand.Uint64(), e.hostname))
	}
	if _, ok := e.conf.Headers["Date"]; !ok {
		m.SetDateHeader("Date", time.Now())
	}
	return nil
}

// renderBody adds the text part, then the HTML part, which RFC 2046 wants
// last as the preferred alternative. Both are quoted-printable UTF-8.
func (e *Email) renderBody(m *gomail.Message, data *template.Data) error {
	var parts int
	add := func(contentType, body string) {
		if parts == 0 {
			m.SetBody(contentType, body)
		} else {
			m.AddAlternative(contentType, body)
		}
		parts++
	}
	if e.conf.Text != "" {
		body, err := e.tmpl.ExecuteTextString(e.conf.Text, data)
		if err != nil {
			return fmt.Errorf("execute text template: %w", err)
		}
		add("text/plain", body)
	}
	if e.conf.HTML != "" {
		body, err := e.tmpl.ExecuteHTMLString(e.conf.HTML, data)
		if err != nil {
			return fmt.Errorf("execute html template: %w", err)
		}
		add("text/html", body)
	}
	return nil
}

// send runs one SMTP conversation. Everything after the dial is bounded by
// ctx: the connection carries ctx's deadline and is closed when ctx is
// done, which fails whatever read or write is under way.
func (e *Email) send(ctx context.Context, env *envelope) (bool, error) {
	var tlsConf *tls.Config
	if e.conf.ImplicitTLS() || e.conf.RequireTLS {
		var err error
		if tlsConf, err = commoncfg.NewTLSConfig(&e.conf.TLSConfig); err != nil {
			return false, clientError(fmt.Errorf("parse TLS configuration: %w", err))
		}
		if tlsConf.ServerName == "" {
			tlsConf.ServerName = e.host
		}
	}
	conn, err := e.dial(ctx, tlsConf)
	if err != nil {
		step := "establish connection to server"
		if e.conf.ImplicitTLS() {
			step = "establish TLS connection to server"
		}
		return e.failed(ctx, step, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		_ = conn.Close()
		return e.failed(ctx, "read the server's greeting", err)
	}
	defer c.Close()
	if retry, err := e.hello(ctx, c, tlsConf); err != nil {
		return retry, err
	}
	if retry, err := e.deliver(ctx, c, env); err != nil {
		return retry, err
	}
	if err := c.Quit(); err != nil {
		// The message was accepted; a failed goodbye changes nothing.
		e.logger.Debug("closing the SMTP connection failed", "err", err)
	}
	return false, nil
}

// dial connects to the smarthost, with TLS from the start if so
// configured; both the dial and the TLS handshake are bounded by ctx.
func (e *Email) dial(ctx context.Context, tlsConf *tls.Config) (net.Conn, error) {
	addr := net.JoinHostPort(e.host, e.port)
	if e.conf.ImplicitTLS() {
		d := tls.Dialer{Config: tlsConf}
		return d.DialContext(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// hello greets the server, upgrades to TLS when required and
// authenticates as Alertmanager does.
func (e *Email) hello(ctx context.Context, c *smtp.Client, tlsConf *tls.Config) (bool, error) {
	if e.conf.Hello != "" {
		if err := c.Hello(e.conf.Hello); err != nil {
			return e.failed(ctx, "send EHLO command", err)
		}
	}
	if e.conf.RequireTLS && !e.conf.ImplicitTLS() {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return false, clientError(fmt.Errorf("'require_tls' is true (default) but %q does not advertise the STARTTLS extension",
				e.conf.Smarthost))
		}
		if err := c.StartTLS(tlsConf); err != nil {
			return e.failed(ctx, "send STARTTLS command", err)
		}
	}
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return false, nil
	}
	auth, mech, err := e.auth(mechs)
	if err != nil {
		return false, clientError(fmt.Errorf("find auth mechanism: %w", err))
	}
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return e.failed(ctx, mech+" auth", err)
		}
	}
	return false, nil
}

// auth picks the first of the server's mechanisms (in the order it
// offers them) that the configuration can do, as Alertmanager does:
// CRAM-MD5 with the secret, PLAIN and LOGIN with the password. Without a
// username, it sends no AUTH at all.
func (e *Email) auth(mechs string) (smtp.Auth, string, error) {
	user := e.conf.AuthUsername
	if user == "" {
		return nil, "", nil
	}
	password, secret := string(e.conf.AuthPassword), string(e.conf.AuthSecret)
	for _, f := range []struct {
		file string
		dst  *string
		key  string
	}{{e.conf.AuthPasswordFile, &password, "auth_password_file"}, {e.conf.AuthSecretFile, &secret, "auth_secret_file"}} {
		if f.file == "" {
			continue
		}
		v, err := config.ReadSecretFile(f.file)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", f.key, err)
		}
		*f.dst = string(v)
	}
	var errs []error
	for _, mech := range strings.Fields(mechs) {
		switch {
		case mech == "CRAM-MD5" && secret != "":
			return smtp.CRAMMD5Auth(user, secret), mech, nil
		case mech == "PLAIN" && password != "":
			return smtp.PlainAuth(e.conf.AuthIdentity, user, password, e.host), mech, nil
		case mech == "LOGIN" && password != "":
			return &loginAuth{user: user, password: password}, mech, nil
		case mech == "CRAM-MD5":
			errs = append(errs, errors.New("missing secret for CRAM-MD5 auth mechanism"))
		case mech == "PLAIN" || mech == "LOGIN":
			errs = append(errs, fmt.Errorf("missing password for %s auth mechanism", mech))
		default:
			errs = append(errs, fmt.Errorf("unknown auth mechanism: %s", mech))
		}
	}
	return nil, "", errors.Join(errs...)
}

// deliver sends the envelope and the message.
func (e *Email) deliver(ctx context.Context, c *smtp.Client, env *envelope) (bool, error) {
	if err := c.Mail(env.from); err != nil {
		return e.failed(ctx, "send MAIL command", err)
	}
	for _, to := range env.to {
		if err := c.Rcpt(to); err != nil {
			return e.failed(ctx, "send RCPT command", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return e.failed(ctx, "send DATA command", err)
	}
	if _, err := env.msg.WriteTo(w); err != nil {
		_ = w.Close()
		return e.failed(ctx, "write message", err)
	}
	if err := w.Close(); err != nil {
		return e.failed(ctx, "delivery failure", err)
	}
	return false, nil
}

// failed classifies a failure of step. SMTP 4xx replies are transient
// (retry; serverError, like an HTTP 5xx); 5xx replies are permanent (no
// retry; clientError: the server refused what was asked, like an HTTP
// 4xx). A failure once ctx is done, or at its deadline, is the context's,
// and may be retried. A certificate that does not verify is final; other
// connection failures may be retried.
func (e *Email) failed(ctx context.Context, step string, err error) (bool, error) {
	var ne net.Error
	switch ctxErr := ctx.Err(); {
	case ctxErr != nil && errors.Is(err, ctxErr):
		return true, fmt.Errorf("%s: %w", step, err)
	case ctxErr != nil:
		// The connection was closed under the step, or its deadline hit.
		return true, fmt.Errorf("%s: %w (%v)", step, ctxErr, err)
	case errors.As(err, &ne) && ne.Timeout():
		if _, ok := ctx.Deadline(); ok {
			return true, fmt.Errorf("%s: %w (%v)", step, context.DeadlineExceeded, err)
		}
	}
	err = fmt.Errorf("%s: %w", step, err)
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code/100 == 4 {
			return true, &dispatch.ReasonError{Err: err, Why: dispatch.ReasonServerError}
		}
		return false, clientError(err)
	}
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		return false, clientError(err)
	}
	return true, err
}

// clientError marks a failure that repeating will not mend.
func clientError(err error) error {
	return &dispatch.ReasonError{Err: err, Why: dispatch.ReasonClientError}
}

// redact replaces the password and the secret in err's message, should a
// server or a library have repeated them. The reason is kept.
func (e *Email) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range []string{string(e.conf.AuthPassword), string(e.conf.AuthSecret)} {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "<secret>")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &dispatch.ReasonError{Err: errors.New(msg), Why: dispatch.FailureReason(err)}
}

// loginAuth is the LOGIN mechanism, which net/smtp does not have. As
// Alertmanager's, it sends the password without TLS too (require_tls:
// false says that is wanted); net/smtp's PLAIN does so only to localhost.
type loginAuth struct{ user, password string }

// Start implements smtp.Auth.
func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "LOGIN", nil, nil
}

// Next implements smtp.Auth.
func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(string(fromServer)) {
	case "username:":
		return []byte(a.user), nil
	case "password:":
		return []byte(a.password), nil
	}
	return nil, errors.New("unexpected server challenge")
}
