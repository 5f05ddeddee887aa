package e2e

import (
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
)

// mailbox is an in-process SMTP server that keeps what it is sent.
type mailbox struct {
	mu   sync.Mutex
	msgs []string
}

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

func (m *mailbox) all() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.msgs...)
}

type mailSession struct{ m *mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Reset()                               {}
func (s *mailSession) Logout() error                        { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.msgs = append(s.m.msgs, string(b))
	s.m.mu.Unlock()
	return nil
}

func serveMail(t *testing.T) (*mailbox, string) {
	mb := &mailbox{}
	s := smtp.NewServer(mb)
	s.Domain = "localhost"
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return mb, l.Addr().String()
}

// TestRuleToEmail: the binary mails an alert rule's alert through a real
// SMTP conversation, with Alertmanager's default subject.
func TestRuleToEmail(t *testing.T) {
	t.Parallel()
	mb, addr := serveMail(t)
	files := map[string]string{}
	for k, v := range demo {
		files[k] = v
	}
	files["alerter.yml"] = strings.Replace(demo["alerter.yml"], "global:\n", `global:
  smtp_smarthost: '`+addr+`'
  smtp_from: 'alerter@example.org'
  smtp_require_tls: false
`, 1) + `
route:
  receiver: mail
  group_by: [alertname]
  group_wait: 1s
receivers:
  - name: mail
    email_configs:
      - to: 'oncall@example.org'
`
	startAlerter(t, files, "")
	testutil.Eventually(t, 30*time.Second, 100*time.Millisecond, func() bool { return len(mb.all()) > 0 }, "no mail arrived")
	msg := mb.all()[0]
	require.Contains(t, msg, "Subject: [FIRING:1] Demo (a page)")
	require.Contains(t, msg, "To: oncall@example.org")
	require.Contains(t, msg, "From: alerter@example.org")
	require.Contains(t, msg, "text/html")
	require.Contains(t, msg, "demo on a")
}
