package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// flags is the flag set of one command, with what its usage says.
type flags struct {
	*flag.FlagSet
	synopsis string // "alerter check config FILE"
	about    string // what the command does, a sentence or two
}

// newFlags returns the flag set of a command. It prints nothing itself:
// parse decides where the usage goes.
func newFlags(name, synopsis, about string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{FlagSet: fs, synopsis: synopsis, about: about}
}

// usage prints the command's usage: synopsis, description and flags.
func (f *flags) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", f.synopsis, f.about)
	first, ignored := true, 0
	f.VisitAll(func(fl *flag.Flag) {
		if strings.HasPrefix(fl.Usage, ignoredUsage) {
			ignored++
			return
		}
		if first {
			fmt.Fprintln(w, "\nFlags:")
			first = false
		}
		name, help := flag.UnquoteUsage(fl)
		if name != "" {
			name = "=" + strings.ToUpper(name)
		}
		fmt.Fprintf(w, "  --%s%s\n      %s", fl.Name, name, help)
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" && fl.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", fl.DefValue)
		}
		fmt.Fprintln(w)
	})
	if ignored > 0 {
		fmt.Fprintf(w, "\n%d more of Alertmanager's flags (--cluster.*, --web.timeout, ...) are accepted and ignored,\nso that an Alertmanager unit file starts alerter.\n", ignored)
	}
}

// ignoredUsage starts the usage of flags that are accepted and ignored.
const ignoredUsage = "accepted for Alertmanager's unit files"

// parse parses args, with flags allowed between the arguments, as amtool
// (kingpin) allows; "--" ends the flags. It returns the arguments. When
// done is set the command ends with code: 0 after -h or --help printed the
// usage to stdout, exitUsage after a bad flag printed the problem and the
// usage to stderr.
func (f *flags) parse(args []string, stdout, stderr io.Writer) (rest []string, code int, done bool) {
	rest, err := parseInterspersed(f.FlagSet, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		f.usage(stdout)
		return nil, exitOK, true
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n\n", f.Name(), err)
		f.usage(stderr)
		return nil, exitUsage, true
	}
	return rest, 0, false
}

// parseInterspersed parses flags that may come before, between or after
// the arguments; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		if args[0] == "--" {
			return append(rest, args[1:]...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// usageError prints a usage problem and the command's usage to stderr.
func (f *flags) usageError(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "%s: %s\n\n", f.Name(), fmt.Sprintf(format, args...))
	f.usage(stderr)
	return exitUsage
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// subcommand splits args into a subcommand of the group (as listed in
// subs, "check" → "config", "rules") and the rest. With no subcommand, or
// with -h/--help, it prints the group's usage (to stdout for help, exit 0;
// else to stderr, exit 2) and done is set.
func subcommand(group string, subs map[string]string, args []string, stdout, stderr io.Writer) (sub string, rest []string, code int, done bool) {
	if len(args) > 0 {
		if _, ok := subs[args[0]]; ok {
			return args[0], args[1:], 0, false
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: alerter %s COMMAND [flags] [args]\n\nCommands:\n", group)
	for _, name := range slices.Sorted(maps.Keys(subs)) {
		fmt.Fprintf(&b, "  %-8s %s\n", name, subs[name])
	}
	fmt.Fprintf(&b, "\nalerter %s COMMAND --help shows a command's flags.\n", group)
	switch {
	case len(args) > 0 && isHelp(args[0]):
		fmt.Fprint(stdout, b.String())
		return "", nil, exitOK, true
	case len(args) == 0:
		fmt.Fprintf(stderr, "alerter %s: a command is required\n\n%s", group, b.String())
	default:
		fmt.Fprintf(stderr, "alerter %s: unknown command %q\n\n%s", group, args[0], b.String())
	}
	return "", nil, exitUsage, true
}
