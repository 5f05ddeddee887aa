package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
)

// SourceData is what a datasource's source_url template is given for an
// alerting rule, to build its alerts' generatorURL.
type SourceData struct {
	// Expr is the rule's expression, Rule its name, Group its group's.
	Expr, Rule, Group string
	// Datasource is where users open the datasource in a browser (its
	// external_url, else its url; empty for an embedded one), ExternalURL
	// alerter's own; neither ends with a slash.
	Datasource, ExternalURL string
}

// sourceFuncs are the functions of source_url templates.
var sourceFuncs = template.FuncMap{
	"queryEscape": url.QueryEscape,
	"pathEscape":  url.PathEscape,
	// json quotes a string as a JSON string (Grafana's explore state).
	"json": func(s string) (string, error) {
		b, err := json.Marshal(s)
		return string(b), err
	},
}

// parseSourceURL parses a source_url template and tries it on an example,
// so that a template that cannot run fails at load, not at the first
// alert.
func parseSourceURL(text, datasource string) (*template.Template, error) {
	t, err := template.New("source_url").Funcs(sourceFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("source_url: %w", err)
	}
	out, err := execSourceURL(t, SourceData{Expr: `rate(http_requests_total{code=~"5.."}[5m]) > 0`, Rule: "Example", Group: "example",
		Datasource: datasource, ExternalURL: "http://alerter.example:9095"})
	if err != nil {
		return nil, err
	}
	if u, err := url.Parse(out); err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("source_url: gives %q for an example rule, not an absolute http or https URL", out)
	}
	return t, nil
}

// execSourceURL runs a source_url template.
func execSourceURL(t *template.Template, d SourceData) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("source_url: %w", err)
	}
	return strings.TrimSpace(b.String()), nil
}

// SourceLink returns the generatorURL of an alerting rule on ds: its
// source_url template's, or by default the Prometheus graph of the
// expression (a prometheus datasource) or the rule on alerter's rules page
// (an embedded one). externalURL is alerter's.
func (ds *Datasource) SourceLink(d SourceData) (string, error) {
	d.ExternalURL = strings.TrimRight(d.ExternalURL, "/")
	if ds.Type == TypePrometheus {
		d.Datasource = strings.TrimRight(ds.browserURL(), "/")
	}
	if ds.sourceTemplate != nil {
		return execSourceURL(ds.sourceTemplate, d)
	}
	if ds.Type == TypePrometheus {
		return d.Datasource + "/graph?g0.expr=" + url.QueryEscape(d.Expr) + "&g0.tab=1", nil
	}
	return d.ExternalURL + "/rules?q=" + url.QueryEscape(d.Rule), nil
}

// browserURL is where users open a prometheus datasource: its
// external_url, else its url without credentials or query (a link goes to
// every receiver of the alert).
func (ds *Datasource) browserURL() string {
	raw := ds.URL
	if ds.ExternalURL != "" {
		raw = ds.ExternalURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// validateLinks checks external_url and source_url.
func (ds *Datasource) validateLinks() []error {
	var errs []error
	if ds.ExternalURL != "" {
		if ds.Type != TypePrometheus {
			errs = append(errs, errors.New("external_url is only for type prometheus (alerter's own external URL serves an embedded datasource)"))
		} else if u, err := url.Parse(ds.ExternalURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("external_url %q must be an absolute http or https URL", redactURL(ds.ExternalURL)))
		}
	}
	if ds.SourceURL != "" {
		example := "" // an embedded datasource has no address of its own
		if ds.Type == TypePrometheus {
			example = strings.TrimRight(ds.browserURL(), "/")
		}
		t, err := parseSourceURL(ds.SourceURL, example)
		if err != nil {
			errs = append(errs, err)
		}
		ds.sourceTemplate = t
	}
	return errs
}
