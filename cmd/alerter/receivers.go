package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
	"github.com/alerter/alerter/notifiers"
	alerterweb "github.com/alerter/alerter/web"
)

// runReceivers runs `alerter receivers test --config.file=F NAME`: it sends
// a test notification to every integration of the receiver NAME and prints
// one line per integration. Exit 0 if all succeeded, 1 if any failed (or
// the configuration has problems), 2 on a usage error such as an unknown
// receiver.
func runReceivers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	_, args, code, done := subcommand("receivers", map[string]string{
		"test": "send a test notification to every integration of a receiver",
	}, args, stdout, stderr)
	if done {
		return code
	}
	fs := newFlags("alerter receivers test", "alerter receivers test --config.file=FILE NAME",
		"Sends one firing TestAlert to every integration of the receiver NAME at once, without retries, and\n"+
			"prints one line per integration. Exit 0: all succeeded; 1: one failed or the configuration has\n"+
			"problems; 2: usage (an unknown receiver).")
	configFile := fs.String("config.file", "", "alerter configuration file (required)")
	extURL := fs.String("web.external-url", "", "URL under which users reach alerter, for links in the notification (default: global.external_url)")
	rest, code, done := fs.parse(args, stdout, stderr)
	if done {
		return code
	}
	switch {
	case *configFile == "":
		return fs.usageError(stderr, "--config.file is required")
	case len(rest) != 1:
		return fs.usageError(stderr, "want exactly one receiver name")
	}
	name := rest[0]
	cfg, err := config.Load(*configFile)
	if err != nil {
		fmt.Fprintf(stderr, "alerter receivers test: %v\n", err)
		return exitProblems
	}
	integrations, err := buildReceiver(cfg, name, *extURL)
	var unknown *unknownReceiverError
	switch {
	case errors.As(err, &unknown):
		fmt.Fprintf(stderr, "alerter receivers test: %v\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "alerter receivers test: %v\n", err)
		return exitProblems
	case len(integrations) == 0:
		fmt.Fprintf(stdout, "receiver %q has no integrations: nothing to test\n", name)
		return exitOK
	}
	results := notifiers.TestReceiver(ctx, name, integrations, time.Now())
	return printTestResults(stdout, results)
}

// unknownReceiverError names a receiver the configuration does not have,
// and lists those it has.
type unknownReceiverError struct {
	name  string
	known []string
}

func (e *unknownReceiverError) Error() string {
	if len(e.known) == 0 {
		return fmt.Sprintf("unknown receiver %q: the configuration has no receivers", e.name)
	}
	return fmt.Sprintf("unknown receiver %q; the receivers are: %s", e.name, strings.Join(e.known, ", "))
}

// buildReceiver builds the integrations of one receiver of cfg, as `run`
// would (same templates, same user agent). Only that receiver is built, so
// that another receiver's problem does not stop the test.
func buildReceiver(cfg *config.Config, name, extURLFlag string) ([]dispatch.Integration, error) {
	rt := cfg.Routing
	var known []string
	var rcv *config.Receiver
	if rt != nil {
		for _, r := range rt.Receivers {
			known = append(known, r.Name)
			if r.Name == name {
				rcv = r
			}
		}
	}
	if rcv == nil {
		slices.Sort(known)
		return nil, &unknownReceiverError{name: name, known: known}
	}
	ext, err := externalURL(extURLFlag, cfg.Global.ExternalURL, ":9095")
	if err != nil {
		return nil, err
	}
	one := *rt
	one.Receivers = []*config.Receiver{rcv}
	tmpl, err := notifiers.LoadTemplate(&one, ext.String())
	if err != nil {
		return nil, err
	}
	built, err := notifiers.Build(&one, notifiers.Options{Template: tmpl, UserAgent: "alerter/" + version()})
	if err != nil {
		return nil, err
	}
	return built[name], nil
}

// printTestResults prints one line per integration and returns the exit
// code: 0 if every integration succeeded, else 1.
func printTestResults(stdout io.Writer, results []notifiers.TestResult) int {
	code := exitOK
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, r := range results {
		if r.Success {
			fmt.Fprintf(tw, "%s\tok\t%s\n", r.Integration, roundDuration(r.Duration))
			continue
		}
		code = exitProblems
		fmt.Fprintf(tw, "%s\tFAILED\t%v\n", r.Integration, r.Err)
	}
	_ = tw.Flush()
	return code
}

// roundDuration rounds d for people: to milliseconds, or to microseconds
// below one.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// testReceiver implements web.Options.TestReceiver with the integrations
// of the running configuration.
func (r *routing) testReceiver(ctx context.Context, name string) ([]alerterweb.ReceiverTestResult, error) {
	var (
		integrations []dispatch.Integration
		ok           bool
	)
	if rc := r.current.Load(); rc != nil {
		integrations, ok = rc.integrations[name]
	}
	if !ok {
		return nil, fmt.Errorf("receiver %q %w", name, alerterweb.ErrNotFound)
	}
	results := notifiers.TestReceiver(ctx, name, integrations, time.Now())
	out := make([]alerterweb.ReceiverTestResult, len(results))
	for i, res := range results {
		out[i] = alerterweb.ReceiverTestResult{Integration: res.Integration, Success: res.Success, Duration: res.Duration}
		if res.Err != nil {
			out[i].Error = res.Err.Error()
		}
	}
	return out, nil
}
