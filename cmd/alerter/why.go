package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/model"
)

// whyTimeout bounds the request of alerter why, and whyMaxBody its answer.
const (
	whyTimeout = 30 * time.Second
	whyMaxBody = 32 << 20
)

// runWhy runs `alerter why`: the timeline of the alerts with the given
// labels, from a running alerter's GET /api/v1/alerts/timeline.
func runWhy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("alerter why", "alerter why --alertmanager.url=URL [--since=7d] [--fingerprint=FP] [--output=table|json] label=value...",
		"Says why an alert paged or did not: everything the running alerter recorded of it (its rule's evaluations,\n"+
			"routing, each flush's outcome per integration: sent, failed and why, deduplicated, muted by a time interval,\n"+
			"silenced by which silence, inhibited by which alert). Arguments are matchers: label=value, label=~regex,\n"+
			"label!=value; every one must hold.")
	base := fs.String("alertmanager.url", "", "URL of the running alerter (required), as amtool's flag; http://user:password@host:9095 for basic auth")
	since := fs.String("since", "", "only events since this long ago (7d) or this time (RFC 3339); default: all kept (--data.retention)")
	fingerprint := fs.String("fingerprint", "", "select the alert by its fingerprint instead of labels")
	output := fs.String("output", "table", "table or json")
	rest, code, done := fs.parse(args, stdout, stderr)
	if done {
		return code
	}
	switch {
	case *base == "":
		return fs.usageError(stderr, "--alertmanager.url is required")
	case len(rest) == 0 && *fingerprint == "":
		return fs.usageError(stderr, "give the alert's labels (label=value...) or --fingerprint")
	case *output != "table" && *output != "json":
		return fs.usageError(stderr, "--output must be table or json, not %q", *output)
	}
	u, err := url.Parse(strings.TrimRight(*base, "/") + "/api/v1/alerts/timeline")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fs.usageError(stderr, "--alertmanager.url %q is not an http(s) URL", *base)
	}
	q := url.Values{}
	if len(rest) > 0 {
		q.Set("match[]", "{"+strings.Join(rest, ",")+"}")
	}
	if *fingerprint != "" {
		q.Set("fingerprint", *fingerprint)
	}
	if *since != "" {
		q.Set("since", *since)
	}
	u.RawQuery = q.Encode()
	data, raw, err := fetchTimeline(ctx, u.String())
	if err != nil {
		fmt.Fprintf(stderr, "alerter why: %v\n", err)
		return exitProblems
	}
	if *output == "json" {
		_, _ = stdout.Write(raw)
		fmt.Fprintln(stdout)
	} else {
		printTimelines(stdout, data)
	}
	if len(data.Alerts) == 0 {
		fmt.Fprintln(stderr, "alerter why: no alert with these labels has events recorded (its rule never returned it, or the events are older than --data.retention)")
		return exitProblems
	}
	return exitOK
}

// whyTimeline is the part of the API's answer alerter why prints.
type whyTimeline struct {
	Alerts []struct {
		Fingerprint string         `json:"fingerprint"`
		Labels      model.LabelSet `json:"labels"`
		Now         *struct {
			Status struct {
				State       string   `json:"state"`
				SilencedBy  []string `json:"silencedBy"`
				InhibitedBy []string `json:"inhibitedBy"`
			} `json:"status"`
			Receivers []struct {
				Name string `json:"name"`
			} `json:"receivers"`
		} `json:"now"`
		Events []struct {
			Time        time.Time `json:"time"`
			Kind        string    `json:"kind"`
			Text        string    `json:"text"`
			Receiver    string    `json:"receiver"`
			Integration string    `json:"integration"`
		} `json:"events"`
		Truncated bool `json:"truncated"`
	} `json:"alerts"`
	More bool `json:"more"`
}

func fetchTimeline(ctx context.Context, u string) (whyTimeline, []byte, error) {
	var out whyTimeline
	shown := u // the URL as errors show it: no password
	if p, err := url.Parse(u); err == nil {
		shown = p.Redacted()
	}
	ctx, cancel := context.WithTimeout(ctx, whyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return out, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, whyMaxBody+1))
	if err != nil {
		return out, nil, fmt.Errorf("reading the answer of %s: %w", shown, err)
	}
	if len(body) > whyMaxBody {
		return out, nil, fmt.Errorf("the answer of %s is larger than %d MiB: narrow the matchers or --since", shown, whyMaxBody>>20)
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		if resp.StatusCode == http.StatusNotFound {
			return out, nil, fmt.Errorf("%s: 404: is this an alerter with a notification pipeline?", shown)
		}
		return out, nil, fmt.Errorf("%s answered %s, not the API's JSON", shown, resp.Status)
	}
	if env.Status != "success" {
		return out, nil, errors.New(env.Error)
	}
	if err := json.Unmarshal(env.Data, &out); err != nil {
		return out, nil, fmt.Errorf("decoding the answer of %s: %w", shown, err)
	}
	return out, env.Data, nil
}

// printTimelines prints each alert, its state now, and its events.
func printTimelines(w io.Writer, data whyTimeline) {
	for i, a := range data.Alerts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Alert %s (fingerprint %s)\n", a.Labels, a.Fingerprint)
		if a.Now == nil {
			fmt.Fprintln(w, "Now: not active")
		} else {
			var rcv []string
			for _, r := range a.Now.Receivers {
				rcv = append(rcv, r.Name)
			}
			sort.Strings(rcv)
			st := a.Now.Status
			line := "Now: " + st.State
			if len(st.SilencedBy) > 0 {
				line += ", silenced by " + strings.Join(st.SilencedBy, ", ")
			}
			if len(st.InhibitedBy) > 0 {
				line += ", inhibited by " + strings.Join(st.InhibitedBy, ", ")
			}
			if len(rcv) > 0 {
				line += "; receivers " + strings.Join(rcv, ", ")
			}
			fmt.Fprintln(w, line)
		}
		if a.Truncated {
			fmt.Fprintln(w, "(older events left out)")
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, ev := range a.Events {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", ev.Time.UTC().Format("2006-01-02 15:04:05"), ev.Kind, ev.Text)
		}
		_ = tw.Flush()
	}
	if data.More {
		fmt.Fprintln(w, "\nMore alerts match: narrow the matchers.")
	}
}
