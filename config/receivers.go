package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"text/template"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// receivers decodes the receivers section; names must be unique.
func (d *nodeDecoder) receivers(n *yaml.Node, globals map[string]yaml.Node, httpConfig commoncfg.HTTPClientConfig) []*Receiver {
	var out []*Receiver
	firstLine := map[string]int{}
	for i, it := range d.items(n, "receivers") {
		rcv := d.receiver(it, i, globals, httpConfig)
		if rcv == nil {
			continue
		}
		if line, dup := firstLine[rcv.Name]; dup {
			d.errorf(it, "receiver %q is defined twice (first at line %d)", rcv.Name, line)
			continue
		}
		firstLine[rcv.Name] = rcv.Line
		out = append(out, rcv)
	}
	return out
}

// receiver decodes one receiver. A receiver with errors in its
// integrations is still returned, so that routes naming it do not report
// it as undefined too.
func (d *nodeDecoder) receiver(n *yaml.Node, i int, globals map[string]yaml.Node, httpConfig commoncfg.HTTPClientConfig) *Receiver {
	rcv := &Receiver{Line: deref(n).Line, node: n}
	what := fmt.Sprintf("receivers[%d]", i)
	if _, v := lookup(n, "name"); v != nil && deref(v).Kind == yaml.ScalarNode {
		// The name first, so that every error below can give it.
		rcv.Name = deref(v).Value
		what = fmt.Sprintf("receiver %q", rcv.Name)
	}
	var labelsNode *yaml.Node
	d.fields(n, what, func(key string, v *yaml.Node) bool {
		field := what + ": " + key
		switch {
		case key == "name":
			rcv.Name, _ = d.str(v, field)
		case key == "labels":
			labelsNode = v
			rcv.Labels = map[string]string{}
			d.strMap(v, field, func(_, _ *yaml.Node, k, val string) { rcv.Labels[k] = val })
		case key == "webhook_configs":
			for j, it := range d.items(v, field) {
				if w := d.webhook(it, fmt.Sprintf("%s[%d]", field, j), httpConfig); w != nil {
					rcv.Webhook = append(rcv.Webhook, w)
				}
			}
		case key == "email_configs":
			for _, it := range d.items(v, field) {
				rcv.Email = append(rcv.Email, *it)
			}
		case key == "slack_configs":
			for _, it := range d.items(v, field) {
				rcv.Slack = append(rcv.Slack, *it)
			}
		case slices.Contains(upstreamKinds, key):
			for j, it := range d.items(v, field) {
				rcv.upstream = append(rcv.upstream, upstreamItem{key: key, index: j, node: it})
			}
		default:
			return false
		}
		return true
	})
	if rcv.Name == "" {
		d.errorf(n, "%s: missing name in receiver", what)
		return nil
	}
	if v, ok := rcv.Labels["name"]; ok && v != rcv.Name {
		d.errorf(labelsNode, "%s: receiver label \"name\" must match receiver name %q, got %q", what, rcv.Name, v)
	}
	if rcv.Labels == nil {
		rcv.Labels = map[string]string{}
	}
	rcv.Labels["name"] = rcv.Name
	emails, errs := DecodeEmailConfigs(rcv.Email, globals, d.dir)
	rcv.EmailConfigs = emails
	slacks, serrs := DecodeSlackConfigs(rcv.Slack, globals, d.dir)
	rcv.SlackConfigs = slacks
	for _, err := range append(errs, serrs...) {
		d.errs = append(d.errs, fmt.Errorf("%s: %w", what, err))
	}
	return rcv
}

// webhook decodes a webhook_configs entry as Alertmanager's
// webhook.WebhookConfig: send_resolved defaults to true, http_config to
// global.http_config.
func (d *nodeDecoder) webhook(n *yaml.Node, what string, httpConfig commoncfg.HTTPClientConfig) *WebhookConfig {
	if isNull(n) {
		d.errorf(n, "%s: missing webhook config", what)
		return nil
	}
	w := &WebhookConfig{SendResolved: true, HTTPConfig: httpConfig, Line: deref(n).Line}
	var urlNode, fileNode *yaml.Node
	d.fields(n, what, func(key string, v *yaml.Node) bool {
		field := what + ": " + key
		switch key {
		case "send_resolved":
			d.decode(v, field, &w.SendResolved)
		case "http_config":
			if !isNull(v) {
				w.HTTPConfig = commoncfg.HTTPClientConfig{}
				if d.strict(v, field, &w.HTTPConfig) {
					w.HTTPConfig.SetDirectory(d.dir)
				}
			}
		case "url":
			w.URL, _ = d.str(v, field)
			urlNode = v
		case "url_file":
			f, _ := d.str(v, field)
			w.URLFile = resolvePath(d.dir, f)
			fileNode = v
		case "max_alerts":
			if d.decode(v, field, &w.MaxAlerts) && w.MaxAlerts < 0 {
				d.errorf(v, "%s must not be negative", field)
			}
		case "timeout":
			// A Go duration, as Alertmanager reads it (time.Duration in yaml.v2).
			d.decode(v, field, &w.Timeout)
		case "payload":
			d.errorf(v, "%s: custom webhook payloads (Alertmanager 0.35) are not supported by alerter", field)
		default:
			return false
		}
		return true
	})
	switch {
	case w.URL == "" && w.URLFile == "":
		d.errorf(n, "%s: one of url or url_file must be configured", what)
	case w.URL != "" && w.URLFile != "":
		d.errorf(n, "%s: at most one of url & url_file must be configured", what)
	case w.URL != "":
		if err := checkWebhookURL(w.URL); err != nil {
			d.errorf(urlNode, "%s: url: %v", what, err)
		}
	default:
		b, err := os.ReadFile(w.URLFile)
		if err != nil {
			d.errorf(fileNode, "%s: url_file: %v", what, err)
			break
		}
		w.URL = strings.TrimSpace(string(b))
		if err := checkWebhookURL(w.URL); err != nil {
			d.errorf(fileNode, "%s: url_file %s: %v", what, w.URLFile, err)
		}
	}
	return w
}

// checkWebhookURL checks a url as Alertmanager 0.35 does: a Go template if
// it has "{{", an absolute http or https URL otherwise. The URL is a secret
// and is not repeated in the error.
func checkWebhookURL(s string) error {
	if strings.Contains(s, "{{") {
		if _, err := template.New("").Parse(s); err != nil {
			return fmt.Errorf("invalid template syntax: %w", err)
		}
		return nil
	}
	return checkHTTPURL(s)
}
