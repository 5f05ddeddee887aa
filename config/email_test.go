package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// decodeEmails decodes the email_configs list and the globals written in
// yml (a mapping with "global" and "email_configs"), as the config file
// would give them, against the folder testdata. Errors come back as
// "LINE: message".
func decodeEmails(t *testing.T, yml string) ([]*EmailConfig, []string) {
	t.Helper()
	var doc struct {
		Global       map[string]yaml.Node `yaml:"global"`
		EmailConfigs []yaml.Node          `yaml:"email_configs"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(yml), &doc))
	cfgs, errs := DecodeEmailConfigs(doc.EmailConfigs, doc.Global, "testdata")
	var msgs []string
	for _, err := range errs {
		var pe *posError
		require.ErrorAs(t, err, &pe, "%v has a line", err)
		msgs = append(msgs, fmt.Sprintf("%d: %v", pe.line, err))
	}
	return cfgs, msgs
}

func TestEmailDefaults(t *testing.T) {
	cfgs, errs := decodeEmails(t, `
email_configs:
  - to: team@example.org
    from: alerter@example.org
    smarthost: mail.example.org:587
    headers: {x-team: db, message-id: '<fixed@x>'}
`)
	require.Empty(t, errs)
	require.Len(t, cfgs, 1)
	c := cfgs[0]
	require.False(t, c.SendResolved, "Alertmanager's default for email")
	require.Equal(t, "localhost", c.Hello)
	require.True(t, c.RequireTLS)
	require.Nil(t, c.ForceImplicitTLS)
	require.False(t, c.ImplicitTLS(), "port 587: STARTTLS")
	require.Equal(t, `{{ template "email.default.html" . }}`, c.HTML)
	require.Empty(t, c.Text)
	require.Equal(t, map[string]string{
		"Subject": `{{ template "email.default.subject" . }}`, "To": "team@example.org", "From": "alerter@example.org",
		"X-Team": "db", "Message-Id": "<fixed@x>",
	}, c.Headers, "canonical names, and Subject, To, From by default")
	require.Empty(t, c.AuthPassword)
	require.Equal(t, 3, c.Line)

	port465, errs := decodeEmails(t, `
email_configs:
  - {to: a@x, from: b@x, smarthost: 'mail:465'}
  - {to: a@x, from: b@x, smarthost: 'mail:465', force_implicit_tls: false}
  - {to: a@x, from: b@x, smarthost: 'mail:25', force_implicit_tls: true, send_resolved: true, text: hi, html: ''}
`)
	require.Empty(t, errs)
	require.True(t, port465[0].ImplicitTLS(), "port 465 is implicit TLS unless said otherwise")
	require.False(t, port465[1].ImplicitTLS())
	require.True(t, port465[2].ImplicitTLS())
	require.True(t, port465[2].SendResolved)
	require.Equal(t, "hi", port465[2].Text)
	require.Empty(t, port465[2].HTML, "html: '' leaves the part out")
}

func TestEmailGlobals(t *testing.T) {
	cfgs, errs := decodeEmails(t, `
global:
  smtp_from: global@example.org
  smtp_smarthost: smtp.example.org:25
  smtp_hello: alerter.example.org
  smtp_auth_username: g-user
  smtp_auth_identity: g-id
  smtp_auth_password_file: secrets/password
  smtp_auth_secret: g-secret
  smtp_require_tls: false
  smtp_force_implicit_tls: true
  smtp_tls_config: {ca_file: ca.pem, server_name: g}
email_configs:
  - to: a@example.org
  - to: b@example.org
    from: own@example.org
    smarthost: own.example.org:587
    hello: own
    auth_username: own-user
    auth_password: own-pw
    require_tls: true
    force_implicit_tls: false
    tls_config: {insecure_skip_verify: true}
`)
	require.Empty(t, errs)
	require.Len(t, cfgs, 2)
	g := cfgs[0]
	require.Equal(t, "global@example.org", g.From)
	require.Equal(t, "global@example.org", g.Headers["From"])
	require.Equal(t, "smtp.example.org:25", g.Smarthost)
	require.Equal(t, "alerter.example.org", g.Hello)
	require.Equal(t, "g-user", g.AuthUsername)
	require.Equal(t, "g-id", g.AuthIdentity)
	require.Empty(t, string(g.AuthPassword), "read from the file at each send, as Alertmanager")
	require.Equal(t, filepath.Join("testdata", "secrets", "password"), g.AuthPasswordFile)
	pw, err := ReadSecretFile(g.AuthPasswordFile)
	require.NoError(t, err)
	require.Equal(t, "pw", string(pw), "trimmed")
	require.Equal(t, "g-secret", string(g.AuthSecret))
	require.False(t, g.RequireTLS)
	require.True(t, g.ImplicitTLS())
	require.Equal(t, filepath.Join("testdata", "ca.pem"), g.TLSConfig.CAFile, "relative to the config's folder")
	require.Equal(t, "g", g.TLSConfig.ServerName)

	own := cfgs[1]
	require.Equal(t, "own@example.org", own.From)
	require.Equal(t, "own.example.org:587", own.Smarthost)
	require.Equal(t, "own", own.Hello)
	require.Equal(t, "own-user", own.AuthUsername)
	require.Equal(t, "g-id", own.AuthIdentity)
	require.Equal(t, "own-pw", string(own.AuthPassword), "the entry's password replaces the global file")
	require.Empty(t, own.AuthPasswordFile)
	require.Equal(t, "g-secret", string(own.AuthSecret))
	require.True(t, own.RequireTLS)
	require.False(t, own.ImplicitTLS())
	require.True(t, own.TLSConfig.InsecureSkipVerify)
	require.Empty(t, own.TLSConfig.CAFile, "an own tls_config replaces the global one whole")
}

func TestEmailSecretFiles(t *testing.T) {
	cfgs, errs := decodeEmails(t, `
global:
  smtp_auth_password: global-pw
email_configs:
  - {to: a@x, from: b@x, smarthost: 'm:25', auth_password_file: secrets/password, auth_secret_file: secrets/password}
`)
	require.Empty(t, errs)
	require.Empty(t, string(cfgs[0].AuthPassword), "the entry's file replaces the global password")
	require.Equal(t, filepath.Join("testdata", "secrets", "password"), cfgs[0].AuthPasswordFile)
	require.Equal(t, filepath.Join("testdata", "secrets", "password"), cfgs[0].AuthSecretFile)

	// Files are read when mail is sent (Alertmanager; amtool accepts a
	// config whose files are not there yet); both value and file is wrong.
	_, errs = decodeEmails(t, `
global:
  smtp_auth_password_file: secrets/nope
email_configs:
  - {to: a@x, from: b@x, smarthost: 'm:25', auth_secret_file: secrets/missing}
  - {to: a@x, from: b@x, smarthost: 'm:25', auth_password: pw-value, auth_password_file: secrets/password}
`)
	require.Equal(t, []string{
		"6: email_configs[1]: at most one of auth_password & auth_password_file must be configured",
	}, sortedLines(errs))
	for _, e := range errs {
		require.NotContains(t, e, "pw-value")
	}
}

func TestEmailBad(t *testing.T) {
	cfgs, errs := decodeEmails(t, `
email_configs:
  - from: b@x
    smarthost: m:25
    bogus: 1
  - to: a@x
  - to: a@x
    from: b@x
    smarthost: no-port
    require_tls: maybe
    headers: {subject: x, Subject: y}
  -
  - to: a@x
    from: b@x
    smarthost: 'm:25'
    threading: {enabled: true}
    tls_config: {ca_fil: x}
`)
	require.Empty(t, cfgs, "no entry without problems")
	require.Equal(t, []string{
		"10: email_configs[2]: require_tls: cannot unmarshal !!str `maybe` into bool",
		"11: email_configs[2]: headers: duplicate header \"Subject\" in email config",
		"12: email_configs[3]: missing email config",
		"16: email_configs[4]: threading: mail threading (Alertmanager 0.35) is not supported by alerter",
		"17: email_configs[4]: tls_config: field ca_fil not found",
		"3: email_configs[0]: missing to address in email config",
		"5: field bogus not found in email_configs[0]",
		"6: email_configs[1]: no global SMTP from set",
		"6: email_configs[1]: no global SMTP smarthost set",
		"9: email_configs[2]: smarthost: address no-port: missing port in address",
	}, sortedLines(errs))

	_, errs = decodeEmails(t, `
global: {smtp_smarthost: 'nohost', smtp_require_tls: 3}
email_configs:
  - {to: a@x, from: b@x}
`)
	require.Equal(t, []string{
		"2: global: smtp_require_tls: cannot unmarshal !!int `3` into bool",
		"2: global: smtp_smarthost: address nohost: missing port in address",
	}, sortedLines(errs))
}

func sortedLines(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}
