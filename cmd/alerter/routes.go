package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/dispatch"
)

// runRoutes runs `alerter routes show` and `alerter routes test`, which
// work as amtool's `config routes show` and `config routes test` do, on an
// alerter.yml or any Alertmanager configuration (receivers of kinds alerter
// does not deliver to are no problem here).
func runRoutes(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && !isHelp(args[0]) {
		args = append([]string{"show"}, args...) // as amtool config routes
	}
	sub, args, code, done := subcommand("routes", map[string]string{
		"show": "print the routing tree, as amtool config routes show",
		"test": "print the receivers an alert goes to, as amtool config routes test",
	}, args, stdout, stderr)
	if done {
		return code
	}
	var fs *flags
	var verify *string
	var tree *bool
	if sub == "show" {
		fs = newFlags("alerter routes show", "alerter routes show --config.file=FILE",
			"Prints the routing tree of an alerter.yml or any alertmanager.yml, as amtool config routes show does.")
	} else {
		fs = newFlags("alerter routes test", "alerter routes test --config.file=FILE [--verify.receivers=a,b] [--tree] label=value...",
			"Prints the receivers an alert with these labels goes to, as amtool config routes test does.\n"+
				"Exit 1 if --verify.receivers is given and differs.")
		verify = fs.String("verify.receivers", "", "fail (exit 1) unless the alert goes to exactly these receivers, comma-separated, in this order")
		tree = fs.Bool("tree", false, "print the routes the alert takes")
	}
	configFile := fs.String("config.file", "", "configuration file: an alerter.yml or an alertmanager.yml (required)")
	rest, code, done := fs.parse(args, stdout, stderr)
	if done {
		return code
	}
	switch {
	case *configFile == "":
		return fs.usageError(stderr, "--config.file is required")
	case sub == "show" && len(rest) > 0:
		return fs.usageError(stderr, "unexpected argument %q", rest[0])
	}
	route, err := loadRoute(*configFile)
	if err != nil {
		fmt.Fprintf(stderr, "alerter routes %s: %v\n", sub, err)
		return exitProblems
	}
	if sub == "show" {
		fmt.Fprintf(stdout, "Routing tree:\n%s\n", route.Tree())
		return exitOK
	}
	lset, err := parseLabelArgs(rest)
	if err != nil {
		fmt.Fprintf(stderr, "alerter routes test: failed to parse labels: %v\n", err)
		return exitProblems
	}
	if *tree {
		fmt.Fprintf(stdout, "Matching routes:\n%s\n\n", route.MatchingTree(lset))
	}
	got := strings.Join(receivers(route, lset), ",")
	fmt.Fprintln(stdout, got)
	if *verify != "" && *verify != got {
		// amtool's words, on stdout as amtool writes them.
		fmt.Fprintln(stdout, "WARNING: Expected receivers did not match resolved receivers.")
		return exitProblems
	}
	return exitOK
}

// loadRoute reads the routing tree of the config at path.
func loadRoute(path string) (*dispatch.Route, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if cfg.Routing == nil {
		return nil, fmt.Errorf("%s has no route", path)
	}
	return dispatch.NewRoute(cfg.Routing.Route), nil
}

// receivers returns the receivers of the routes an alert with lset takes,
// in tree order (a receiver can appear more than once, as in amtool).
func receivers(route *dispatch.Route, lset model.LabelSet) []string {
	var out []string
	for _, r := range route.Match(lset) {
		out = append(out, r.Opts.Receiver)
	}
	return out
}

// parseLabel parses one label=value argument as amtool 0.35 does (the
// UTF-8 matcher parser with the classic one as fallback), and also accepts
// what amtool 0.25's classic parser alone accepted: a value ending in "}".
var parseLabel = compat.FallbackMatcherParser(slog.New(slog.DiscardHandler))

// parseLabelArgs turns label=value arguments (values optionally quoted:
// foo="bar baz") into a label set; a later label of the same name wins.
func parseLabelArgs(args []string) (model.LabelSet, error) {
	lset := make(model.LabelSet, len(args))
	for _, a := range args {
		m, err := parseLabel(a, "cli")
		if err != nil {
			cm, cerr := labels.ParseMatcher(a)
			if cerr != nil {
				return nil, err
			}
			m = cm
		}
		if m.Type != labels.MatchEqual {
			return nil, errors.New("labels must be specified as key=value pairs")
		}
		lset[model.LabelName(m.Name)] = model.LabelValue(m.Value)
	}
	return lset, nil
}
