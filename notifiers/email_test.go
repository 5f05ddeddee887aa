package notifiers

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	smtp "github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

// The secrets every test configures; no error may show them.
const (
	testPassword = "pw-s3cr3t-Xq9"
	testSecret   = "cram-s3cr3t-Zr7"
)

// received is one message as the test server got it.
type received struct {
	from string
	to   []string
	data []byte
	tls  bool
	user string
	mech string
}

// smtpBackend is an in-process SMTP server's behaviour and what it got.
type smtpBackend struct {
	mechs   []string // AUTH mechanisms offered (with credentials testPassword/testSecret)
	rcptErr error    // the answer to RCPT, if not OK
	delay   time.Duration

	mu             sync.Mutex
	msgs           []received
	inData, peak   int // messages being received at once, and their most
	sessionsOpened int
}

func (be *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	be.mu.Lock()
	defer be.mu.Unlock()
	be.sessionsOpened++
	return &smtpSession{be: be, conn: c}, nil
}

func (be *smtpBackend) messages() []received {
	be.mu.Lock()
	defer be.mu.Unlock()
	return append([]received(nil), be.msgs...)
}

type smtpSession struct {
	be   *smtpBackend
	conn *smtp.Conn
	msg  received
}

func (s *smtpSession) AuthMechanisms() []string { return s.be.mechs }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	s.msg.mech = mech
	check := func(user, password string) error {
		if password != testPassword {
			// Careless, as some servers are: the answer repeats the password.
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad password " + password}
		}
		s.msg.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, password string) error { return check(user, password) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	case "CRAM-MD5":
		return &cramServer{session: s}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error { s.msg.from = from; return nil }

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.be.rcptErr != nil {
		return s.be.rcptErr
	}
	s.msg.to = append(s.msg.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	s.be.mu.Lock()
	s.be.inData++
	s.be.peak = max(s.be.peak, s.be.inData)
	s.be.mu.Unlock()
	b, err := io.ReadAll(r)
	time.Sleep(s.be.delay)
	s.msg.data = b
	_, s.msg.tls = s.conn.TLSConnectionState()
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	s.be.inData--
	s.be.msgs = append(s.be.msgs, s.msg)
	return err
}

func (s *smtpSession) Reset() { s.msg = received{user: s.msg.user, mech: s.msg.mech} }

func (s *smtpSession) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check func(user, password string) error
	step  int
	user  string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step++; l.step {
	case 1:
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(response))
}

// cramServer is the server side of CRAM-MD5 with testSecret.
type cramServer struct {
	session   *smtpSession
	challenge string
}

func (c *cramServer) Next(response []byte) ([]byte, bool, error) {
	if c.challenge == "" {
		c.challenge = "<1896.697170952@test>"
		return []byte(c.challenge), false, nil
	}
	user, digest, _ := strings.Cut(string(response), " ")
	h := hmac.New(md5.New, []byte(testSecret))
	h.Write([]byte(c.challenge))
	if digest != hex.EncodeToString(h.Sum(nil)) {
		return nil, true, &smtp.SMTPError{Code: 535, Message: "bad digest"}
	}
	c.session.msg.user = user
	return nil, true, nil
}

// serveSMTP starts be on 127.0.0.1. With a certificate it offers
// STARTTLS, or, if implicit, speaks TLS from the start.
func serveSMTP(t *testing.T, be *smtpBackend, cert *tls.Certificate, implicit bool) string {
	t.Helper()
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if cert != nil {
		conf := &tls.Config{Certificates: []tls.Certificate{*cert}}
		if implicit {
			l = tls.NewListener(l, conf)
		} else {
			s.TLSConfig = conf
		}
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return l.Addr().String()
}

// selfSigned makes a certificate for 127.0.0.1 and writes it as a CA file.
func selfSigned(t *testing.T) (*tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

// emailConfig decodes one email_configs entry as the config file would,
// so that defaults and globals apply as in production. %s in yml is the
// smarthost.
func emailConfig(t *testing.T, yml, addr string) *config.EmailConfig {
	t.Helper()
	var n yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(fmt.Sprintf(yml, addr)), &n))
	cfgs, errs := config.DecodeEmailConfigs([]yaml.Node{*n.Content[0]}, nil, t.TempDir())
	require.Empty(t, errs)
	require.Len(t, cfgs, 1)
	return cfgs[0]
}

const plainYAML = `{to: 'db-team@example.org, Ops <ops@example.org>', from: alerter@example.org, smarthost: '%s', require_tls: false}`

// firingBatch is a group of two firing alerts, DiskFull on db.
func firingBatch() *dispatch.Batch {
	b := batch()
	b.Alerts[1].EndsAt = t0.Add(time.Hour)
	return b
}

func notify(ctx context.Context, t *testing.T, cfg *config.EmailConfig) (bool, error) {
	t.Helper()
	if cfg.AuthUsername == "" {
		// Not used without a username, but there to leak if they could.
		cfg.AuthPassword, cfg.AuthSecret = testPassword, testSecret
	}
	retry, err := NewEmail(cfg, testTemplate(t), EmailHostname("alerter.test")).Notify(ctx, firingBatch())
	requireNoSecret(t, err)
	return retry, err
}

// requireNoSecret: errors never show the password or the secret.
func requireNoSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		require.NotContains(t, err.Error(), testPassword)
		require.NotContains(t, err.Error(), testSecret)
	}
}

// parts returns the message's parts by content type, decoded.
func parts(t *testing.T, msg *mail.Message) map[string]string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	out := map[string]string{}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		b, err := io.ReadAll(p) // quoted-printable is decoded by the reader
		require.NoError(t, err)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[ct] = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
}

// TestEmailDelivery: envelope, headers and both parts of a plain delivery;
// the default subject and HTML are Alertmanager's.
func TestEmailDelivery(t *testing.T) {
	be := &smtpBackend{}
	addr := serveSMTP(t, be, nil, false)
	cfg := emailConfig(t, `{to: 'db-team@example.org, Ops <ops@example.org>', from: 'Alerter <alerter@example.org>',
	  smarthost: '%s', require_tls: false, text: '{{ range .Alerts }}{{ .Labels.instance }} {{ end }}',
	  headers: {x-team: '{{ .CommonLabels.team }}'}}`, addr)
	before := time.Now().Truncate(time.Second)
	retry, err := notify(context.Background(), t, cfg)
	require.NoError(t, err)
	require.False(t, retry)

	msgs := be.messages()
	require.Len(t, msgs, 1)
	got := msgs[0]
	require.Equal(t, "alerter@example.org", got.from)
	require.Equal(t, []string{"db-team@example.org", "ops@example.org"}, got.to)
	require.False(t, got.tls)
	msg, err := mail.ReadMessage(bytes.NewReader(got.data))
	require.NoError(t, err)
	require.Equal(t, `"Alerter" <alerter@example.org>`, msg.Header.Get("From"))
	require.Equal(t, `db-team@example.org, "Ops" <ops@example.org>`, msg.Header.Get("To"))
	require.Equal(t, "[FIRING:2] DiskFull (db)", msg.Header.Get("Subject"), "Alertmanager's email.default.subject")
	require.Equal(t, "db", msg.Header.Get("X-Team"))
	date, err := msg.Header.Date()
	require.NoError(t, err)
	require.WithinRange(t, date, before, time.Now())
	require.Regexp(t, `^<\d+\.\d+@alerter\.test>$`, msg.Header.Get("Message-Id"))
	require.Equal(t, "1.0", msg.Header.Get("Mime-Version"))

	p := parts(t, msg)
	require.Len(t, p, 2)
	require.Equal(t, "a b ", p["text/plain"])
	html := p["text/html"]
	tmpl := testTemplate(t)
	want, err := tmpl.ExecuteHTMLString(`{{ template "email.default.html" . }}`, Data(tmpl, firingBatch(), firingBatch().Alerts))
	require.NoError(t, err)
	require.Equal(t, want, html, "the HTML part is Alertmanager's email.default.html, unchanged")
	for _, frag := range []string{
		"<title>[FIRING:2] DiskFull (db)</title>",
		"2 alerts for ",
		"alertname=DiskFull",
		`>[2] Firing</strong>`,
		`alertname = DiskFull<br style=`, `instance = a<br style=`, `instance = b<br style=`, `team = db<br style=`,
		`summary = a full<br style=`,
		`<a href="http://prom/graph" style=`,
		`<a href="http://alerter.example/#/alerts?receiver=db-team" class="btn-primary"`,
		`>View in Alertmanager</a>`,
		`>Sent by Alertmanager</a>`,
	} {
		require.Contains(t, html, frag)
	}
	require.NotContains(t, html, "Resolved</strong>")
}

// TestEmailHTMLOnly: by default (no text) the message is the HTML part
// alone; mail.v2 wraps parts in multipart/alternative only when there are
// two (Alertmanager always does).
func TestEmailHTMLOnly(t *testing.T) {
	be := &smtpBackend{}
	retry, err := notify(context.Background(), t, emailConfig(t, plainYAML, serveSMTP(t, be, nil, false)))
	require.NoError(t, err)
	require.False(t, retry)
	msg, err := mail.ReadMessage(bytes.NewReader(be.messages()[0].data))
	require.NoError(t, err)
	require.Equal(t, "text/html; charset=UTF-8", msg.Header.Get("Content-Type"))
	require.Equal(t, "quoted-printable", msg.Header.Get("Content-Transfer-Encoding"))
}

// TestEmailTLS: STARTTLS with a CA file or insecure_skip_verify, implicit
// TLS, and the failures: no STARTTLS on offer, an unknown certificate.
func TestEmailTLS(t *testing.T) {
	cert, caFile := selfSigned(t)
	for name, tc := range map[string]struct {
		tls      string
		implicit bool
	}{
		"starttls with ca_file":         {"tls_config: {ca_file: " + caFile + "}", false},
		"starttls insecure_skip_verify": {"tls_config: {insecure_skip_verify: true}", false},
		"implicit":                      {"force_implicit_tls: true, tls_config: {ca_file: " + caFile + "}", true},
	} {
		t.Run(name, func(t *testing.T) {
			be := &smtpBackend{}
			addr := serveSMTP(t, be, cert, tc.implicit)
			_, err := notify(context.Background(), t, emailConfig(t, `{to: a@example.org, from: b@example.org, smarthost: '%s', `+tc.tls+`}`, addr))
			require.NoError(t, err)
			require.Len(t, be.messages(), 1)
			require.True(t, be.messages()[0].tls)
		})
	}
	t.Run("require_tls without STARTTLS", func(t *testing.T) {
		addr := serveSMTP(t, &smtpBackend{}, nil, false)
		retry, err := notify(context.Background(), t, emailConfig(t, `{to: a@example.org, from: b@example.org, smarthost: '%s'}`, addr))
		require.False(t, retry)
		require.EqualError(t, err, fmt.Sprintf(`'require_tls' is true (default) but %q does not advertise the STARTTLS extension`, addr))
		require.Equal(t, dispatch.ReasonClientError, dispatch.FailureReason(err))
	})
	t.Run("unknown certificate", func(t *testing.T) {
		addr := serveSMTP(t, &smtpBackend{}, cert, false)
		retry, err := notify(context.Background(), t, emailConfig(t, `{to: a@example.org, from: b@example.org, smarthost: '%s'}`, addr))
		require.False(t, retry)
		require.ErrorContains(t, err, "send STARTTLS command: tls: failed to verify certificate")
	})
}

// TestEmailAuth: the mechanism is the first the server offers that the
// configuration can do; the password comes from auth_password_file.
func TestEmailAuth(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600))
	withFile := `{to: a@example.org, from: b@example.org, smarthost: '%s', require_tls: false,
	  auth_username: alice, auth_password_file: ` + pwFile + `}`
	withSecret := `{to: a@example.org, from: b@example.org, smarthost: '%s', require_tls: false,
	  auth_username: alice, auth_secret: ` + testSecret + `}`
	for _, tc := range []struct {
		name, yml string
		mechs     []string
		want      string
	}{
		{"PLAIN", withFile, []string{"PLAIN"}, "PLAIN"},
		{"LOGIN", withFile, []string{"LOGIN"}, "LOGIN"},
		{"LOGIN offered first", withFile, []string{"LOGIN", "PLAIN"}, "LOGIN"},
		{"CRAM-MD5 skipped without a secret", withFile, []string{"CRAM-MD5", "PLAIN"}, "PLAIN"},
		{"PLAIN skipped without a password", withSecret, []string{"PLAIN", "CRAM-MD5"}, "CRAM-MD5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := &smtpBackend{mechs: tc.mechs}
			_, err := notify(context.Background(), t, emailConfig(t, tc.yml, serveSMTP(t, be, nil, false)))
			require.NoError(t, err)
			require.Len(t, be.messages(), 1)
			require.Equal(t, "alice", be.messages()[0].user)
			require.Equal(t, tc.want, be.messages()[0].mech)
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		// The server repeats the password in its answer: still hidden.
		be := &smtpBackend{mechs: []string{"PLAIN"}}
		yml := `{to: a@example.org, from: b@example.org, smarthost: '%s', require_tls: false, auth_username: alice, auth_password: wrong-` + testPassword + `}`
		retry, err := notify(context.Background(), t, emailConfig(t, yml, serveSMTP(t, be, nil, false)))
		require.False(t, retry)
		require.ErrorContains(t, err, "PLAIN auth: 535")
		require.ErrorContains(t, err, "bad password <secret>")
		require.Equal(t, dispatch.ReasonClientError, dispatch.FailureReason(err))
	})
	t.Run("no usable mechanism", func(t *testing.T) {
		be := &smtpBackend{mechs: []string{"CRAM-MD5"}}
		retry, err := notify(context.Background(), t, emailConfig(t, withFile, serveSMTP(t, be, nil, false)))
		require.False(t, retry)
		require.EqualError(t, err, "find auth mechanism: missing secret for CRAM-MD5 auth mechanism")
	})
	t.Run("no username, no AUTH", func(t *testing.T) {
		be := &smtpBackend{mechs: []string{"PLAIN"}}
		_, err := notify(context.Background(), t, emailConfig(t, plainYAML, serveSMTP(t, be, nil, false)))
		require.NoError(t, err)
		require.Empty(t, be.messages()[0].user)
	})
}

// TestEmailRefused: 5xx answers are final, 4xx may be retried; both carry
// a reason.
func TestEmailRefused(t *testing.T) {
	for _, tc := range []struct {
		code   int
		retry  bool
		reason string
	}{
		{550, false, dispatch.ReasonClientError},
		{553, false, dispatch.ReasonClientError},
		{450, true, dispatch.ReasonServerError},
		{451, true, dispatch.ReasonServerError},
	} {
		be := &smtpBackend{rcptErr: &smtp.SMTPError{Code: tc.code, Message: "mailbox says no"}}
		retry, err := notify(context.Background(), t, emailConfig(t, plainYAML, serveSMTP(t, be, nil, false)))
		require.Equal(t, tc.retry, retry, "code %d", tc.code)
		require.ErrorContains(t, err, fmt.Sprintf("send RCPT command: %d", tc.code))
		require.ErrorContains(t, err, "mailbox says no")
		require.Equal(t, tc.reason, dispatch.FailureReason(err))
		require.Empty(t, be.messages())
	}
}

// TestEmailConnectionFailures: nothing listening, and a server that
// accepts and says nothing, cut off by the deadline or a cancel; each
// returns promptly and may be retried.
func TestEmailConnectionFailures(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		retry, err := notify(context.Background(), t, emailConfig(t, plainYAML, addr))
		require.True(t, retry)
		require.ErrorContains(t, err, "establish connection to server")
		require.Equal(t, dispatch.ReasonOther, dispatch.FailureReason(err))
	})
	silent := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		var mu sync.Mutex
		var conns []net.Conn
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c) // held open, never answered
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			_ = l.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				_ = c.Close()
			}
		})
		return l.Addr().String()
	}
	for _, implicit := range []string{"false", "true"} {
		t.Run("deadline, implicit TLS "+implicit, func(t *testing.T) {
			cfg := emailConfig(t, `{to: a@example.org, from: b@example.org, smarthost: '%s', force_implicit_tls: `+implicit+`}`, silent(t))
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			retry, err := notify(ctx, t, cfg)
			require.Less(t, time.Since(start), 2*time.Second)
			require.True(t, retry)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.Equal(t, dispatch.ReasonDeadlineExceeded, dispatch.FailureReason(err))
		})
	}
	t.Run("cancel", func(t *testing.T) {
		cfg := emailConfig(t, plainYAML, silent(t))
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		retry, err := notify(ctx, t, cfg)
		require.Less(t, time.Since(start), 2*time.Second)
		require.True(t, retry)
		require.ErrorIs(t, err, context.Canceled)
	})
}

// TestEmailTemplateErrors: a template that fails is final, names the
// field, and opens no connection.
func TestEmailTemplateErrors(t *testing.T) {
	be := &smtpBackend{}
	addr := serveSMTP(t, be, nil, false)
	for field, yml := range map[string]string{
		`execute "Subject" header template`:  `{to: a@example.org, from: b@example.org, smarthost: '%s', headers: {subject: '{{ template "nope" . }}'}}`,
		`execute 'to' template`:              `{to: '{{ .Nope }}', from: b@example.org, smarthost: '%s'}`,
		`execute html template`:              `{to: a@example.org, from: b@example.org, smarthost: '%s', html: '{{ template "nope" . }}'}`,
		`must be exactly one 'from' address`: `{to: a@example.org, from: 'b@example.org, c@example.org', smarthost: '%s'}`,
	} {
		retry, err := notify(context.Background(), t, emailConfig(t, yml, addr))
		require.False(t, retry)
		require.ErrorContains(t, err, field)
		require.Equal(t, dispatch.ReasonClientError, dispatch.FailureReason(err))
	}
	require.Zero(t, be.sessionsOpened)
}

// TestEmailBoundsConnections: many groups flushing at once share a bounded
// number of connections.
func TestEmailBoundsConnections(t *testing.T) {
	be := &smtpBackend{delay: 5 * time.Millisecond}
	e := NewEmail(emailConfig(t, plainYAML, serveSMTP(t, be, nil, false)), testTemplate(t))
	var wg sync.WaitGroup
	for range 4 * maxEmailConnections {
		wg.Go(func() {
			if _, err := e.Notify(context.Background(), firingBatch()); err != nil {
				t.Error(err) // not require: this is not the test's goroutine
			}
		})
	}
	wg.Wait()
	require.Len(t, be.messages(), 4*maxEmailConnections)
	be.mu.Lock()
	defer be.mu.Unlock()
	require.LessOrEqual(t, be.peak, maxEmailConnections)
	require.Positive(t, be.peak)
}
