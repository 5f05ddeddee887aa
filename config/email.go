package config

import (
	"cmp"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// Alertmanager's defaults for email_configs and the smtp_* globals.
const (
	DefaultEmailSubject = `{{ template "email.default.subject" . }}`
	DefaultEmailHTML    = `{{ template "email.default.html" . }}`
	DefaultSMTPHello    = "localhost"
)

// EmailConfig is an email_configs entry as Alertmanager 0.35 reads it, with
// the smtp_* globals and the defaults already applied: what the email
// notifier needs and nothing left to resolve.
type EmailConfig struct {
	// SendResolved defaults to false, as in Alertmanager.
	SendResolved bool
	// To and From are templates of address lists; From must give exactly
	// one address. They are the envelope's recipients and sender.
	To   string
	From string
	// Hello is the name sent with EHLO ("localhost" by default).
	Hello string
	// Smarthost is the SMTP server, "host:port".
	Smarthost    string
	AuthUsername string
	AuthIdentity string
	// AuthPassword and AuthSecret are secrets: read from their files (white
	// space trimmed) when the config is loaded, never logged or shown.
	// AuthPassword is for PLAIN and LOGIN, AuthSecret for CRAM-MD5.
	AuthPassword     commoncfg.Secret
	AuthPasswordFile string
	AuthSecret       commoncfg.Secret
	AuthSecretFile   string
	// RequireTLS makes the notifier insist on STARTTLS (unless the
	// connection is TLS from the start).
	RequireTLS bool
	// ForceImplicitTLS is nil when not set: then the port decides (see
	// ImplicitTLS).
	ForceImplicitTLS *bool
	// TLSConfig is the entry's tls_config, or smtp_tls_config when it has
	// none; relative file names are resolved against the config's folder.
	TLSConfig commoncfg.TLSConfig
	// Headers are templates by canonical header name (textproto's
	// "Message-Id", "Reply-To"); Subject, To and From are always present.
	Headers map[string]string
	// HTML and Text are the templates of the two parts; "" leaves a part out.
	HTML string
	Text string
	// Line is where the entry starts in the config file.
	Line int
}

// ImplicitTLS reports whether the connection is TLS from the start
// (SMTPS): as force_implicit_tls says, or else when the port is 465.
func (c *EmailConfig) ImplicitTLS() bool {
	if c.ForceImplicitTLS != nil {
		return *c.ForceImplicitTLS
	}
	_, port, _ := net.SplitHostPort(c.Smarthost)
	return port == "465"
}

// emailGlobals are the smtp_* globals, decoded once for all entries.
type emailGlobals struct {
	from, hello, smarthost, username, identity string
	password, secret                           commoncfg.Secret
	passwordFile, secretFile                   string
	requireTLS                                 bool
	forceImplicitTLS                           *bool
	tls                                        commoncfg.TLSConfig
}

// DecodeEmailConfigs decodes a receiver's email_configs entries, applying
// the smtp_* globals as Alertmanager does (an entry's own value wins; its
// auth_password or auth_password_file replaces both global ones, likewise
// for the secret; its tls_config replaces smtp_tls_config whole). Secret
// files are resolved against dir and read now. Every problem is returned
// as an error that knows its line; only entries without problems are
// returned.
func DecodeEmailConfigs(nodes []yaml.Node, globals map[string]yaml.Node, dir string) ([]*EmailConfig, []error) {
	if len(nodes) == 0 {
		return nil, nil
	}
	d := &nodeDecoder{dir: dir}
	g := d.emailGlobals(globals)
	var out []*EmailConfig
	for i := range nodes {
		before := len(d.errs)
		c := d.email(&nodes[i], fmt.Sprintf("email_configs[%d]", i), g)
		if c != nil && len(d.errs) == before {
			out = append(out, c)
		}
	}
	return out, d.errs
}

// emailGlobals decodes the smtp_* globals with Alertmanager's defaults.
// Their value-or-file pairs are checked with the other globals.
func (d *nodeDecoder) emailGlobals(globals map[string]yaml.Node) *emailGlobals {
	g := &emailGlobals{hello: DefaultSMTPHello, requireTLS: true}
	node := func(key string) *yaml.Node {
		if n, ok := globals[key]; ok && !isNull(&n) {
			return &n
		}
		return nil
	}
	str := func(key string) string {
		if n := node(key); n != nil {
			s, _ := d.str(n, "global: "+key)
			return s
		}
		return ""
	}
	g.from = str("smtp_from")
	g.hello = cmp.Or(str("smtp_hello"), DefaultSMTPHello)
	g.username = str("smtp_auth_username")
	g.identity = str("smtp_auth_identity")
	if s := str("smtp_smarthost"); s != "" {
		if err := checkHostPort(s); err != nil {
			d.errorf(node("smtp_smarthost"), "global: smtp_smarthost: %v", err)
		}
		g.smarthost = s
	}
	g.password = commoncfg.Secret(str("smtp_auth_password"))
	g.secret = commoncfg.Secret(str("smtp_auth_secret"))
	g.passwordFile = resolvePath(d.dir, str("smtp_auth_password_file"))
	g.secretFile = resolvePath(d.dir, str("smtp_auth_secret_file"))
	if n := node("smtp_require_tls"); n != nil {
		d.decode(n, "global: smtp_require_tls", &g.requireTLS)
	}
	if n := node("smtp_force_implicit_tls"); n != nil {
		d.decode(n, "global: smtp_force_implicit_tls", &g.forceImplicitTLS)
	}
	if n := node("smtp_tls_config"); n != nil && d.strict(n, "global: smtp_tls_config", &g.tls) {
		g.tls.SetDirectory(d.dir)
	}
	return g
}

// checkHostPort checks a smarthost as Alertmanager's HostPort does.
func checkHostPort(s string) error {
	if _, port, err := net.SplitHostPort(s); err != nil {
		return err
	} else if port == "" {
		return fmt.Errorf("address %q: port cannot be empty", s)
	}
	return nil
}

// emailFields are the nodes of the fields whose checks come after the
// entry is read, for the lines of their errors.
type emailFields struct {
	passwordFile, secretFile *yaml.Node
	// ownTLS and requireTLSSet are set when the entry has its own
	// tls_config and require_tls.
	ownTLS, requireTLSSet bool
}

// email decodes one entry, then fills it in from the globals.
func (d *nodeDecoder) email(n *yaml.Node, what string, g *emailGlobals) *EmailConfig {
	if isNull(n) {
		d.errorf(n, "%s: missing email config", what)
		return nil
	}
	c := &EmailConfig{HTML: DefaultEmailHTML, Line: deref(n).Line, Headers: map[string]string{}}
	var f emailFields
	d.fields(n, what, func(key string, v *yaml.Node) bool {
		return d.emailField(c, &f, key, v, what+": "+key)
	})
	d.emailDefaults(n, c, &f, g, what)
	return c
}

// emailField decodes one key of an entry; it reports false for a key
// Alertmanager does not have.
func (d *nodeDecoder) emailField(c *EmailConfig, f *emailFields, key string, v *yaml.Node, field string) bool {
	strs := map[string]*string{
		"to": &c.To, "from": &c.From, "hello": &c.Hello, "smarthost": &c.Smarthost,
		"auth_username": &c.AuthUsername, "auth_identity": &c.AuthIdentity,
		"auth_password": (*string)(&c.AuthPassword), "auth_secret": (*string)(&c.AuthSecret),
		"auth_password_file": &c.AuthPasswordFile, "auth_secret_file": &c.AuthSecretFile,
		"html": &c.HTML, "text": &c.Text,
	}
	if p, ok := strs[key]; ok {
		*p, _ = d.str(v, field)
		switch key {
		case "smarthost":
			if err := checkHostPort(c.Smarthost); c.Smarthost != "" && err != nil {
				d.errorf(v, "%s: %v", field, err)
			}
		case "auth_password_file":
			f.passwordFile = v
		case "auth_secret_file":
			f.secretFile = v
		}
		return true
	}
	switch key {
	case "send_resolved":
		d.decode(v, field, &c.SendResolved)
	case "require_tls":
		var b *bool
		if d.decode(v, field, &b) && b != nil {
			c.RequireTLS, f.requireTLSSet = *b, true
		}
	case "force_implicit_tls":
		d.decode(v, field, &c.ForceImplicitTLS)
	case "tls_config":
		if !isNull(v) && d.strict(v, field, &c.TLSConfig) {
			c.TLSConfig.SetDirectory(d.dir)
			f.ownTLS = true
		}
	case "headers":
		d.emailHeaders(c, v, field)
	case "threading":
		var t struct {
			Enabled      bool   `yaml:"enabled"`
			ThreadByDate string `yaml:"thread_by_date"`
		}
		if d.strict(v, field, &t) && t.Enabled {
			d.errorf(v, "%s: mail threading (Alertmanager 0.35) is not supported by alerter", field)
		}
	default:
		return false
	}
	return true
}

// emailHeaders decodes headers under their canonical names; two spellings
// of one name are an error, as in Alertmanager.
func (d *nodeDecoder) emailHeaders(c *EmailConfig, v *yaml.Node, field string) {
	d.strMap(v, field, func(k, _ *yaml.Node, key, value string) {
		name := textproto.CanonicalMIMEHeaderKey(key)
		if _, dup := c.Headers[name]; dup {
			d.errorf(k, "%s: duplicate header %q in email config", field, name)
			return
		}
		c.Headers[name] = value
	})
}

// emailDefaults fills an entry in from the globals and defaults, checks
// what must be set, and reads the secret files.
func (d *nodeDecoder) emailDefaults(n *yaml.Node, c *EmailConfig, f *emailFields, g *emailGlobals, what string) {
	if c.To == "" {
		d.errorf(n, "%s: missing to address in email config", what)
	}
	if c.Smarthost = cmp.Or(c.Smarthost, g.smarthost); c.Smarthost == "" {
		d.errorf(n, "%s: no global SMTP smarthost set", what)
	}
	if c.From = cmp.Or(c.From, g.from); c.From == "" {
		d.errorf(n, "%s: no global SMTP from set", what)
	}
	c.Hello = cmp.Or(c.Hello, g.hello)
	c.AuthUsername = cmp.Or(c.AuthUsername, g.username)
	c.AuthIdentity = cmp.Or(c.AuthIdentity, g.identity)
	if !f.requireTLSSet {
		c.RequireTLS = g.requireTLS
	}
	if c.ForceImplicitTLS == nil {
		c.ForceImplicitTLS = g.forceImplicitTLS
	}
	if !f.ownTLS {
		c.TLSConfig = g.tls
	}
	for k, v := range map[string]string{"Subject": DefaultEmailSubject, "To": c.To, "From": c.From} {
		if _, ok := c.Headers[k]; !ok {
			c.Headers[k] = v
		}
	}

	c.AuthPasswordFile = resolvePath(d.dir, c.AuthPasswordFile)
	c.AuthSecretFile = resolvePath(d.dir, c.AuthSecretFile)
	c.AuthPassword, c.AuthPasswordFile = d.emailSecret(n, what, "auth_password",
		c.AuthPassword, c.AuthPasswordFile, g.password, g.passwordFile)
	c.AuthSecret, c.AuthSecretFile = d.emailSecret(n, what, "auth_secret",
		c.AuthSecret, c.AuthSecretFile, g.secret, g.secretFile)
}

// emailSecret resolves one value-or-file pair: the entry's own pair if it
// sets either half (both is an error), else the global pair. A file is
// read at each send, as Alertmanager does (so a rotated password needs no
// reload, and a config whose file is not there yet is still valid, as
// amtool judges it). It returns the secret, or the file to read it from.
func (d *nodeDecoder) emailSecret(n *yaml.Node, what, key string,
	value commoncfg.Secret, file string, gValue commoncfg.Secret, gFile string,
) (commoncfg.Secret, string) {
	switch {
	case value != "" && file != "":
		d.errorf(n, "%s: at most one of %s & %s_file must be configured", what, key, key)
		return "", file
	case value == "" && file == "":
		value, file = gValue, gFile
	}
	if file == "" {
		return value, ""
	}
	return "", file
}

// ReadSecretFile reads a secret from a *_file setting, trimmed. The error
// names the file, never its content.
func ReadSecretFile(file string) (commoncfg.Secret, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return commoncfg.Secret(strings.TrimSpace(string(b))), nil
}
