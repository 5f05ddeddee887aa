// Command alerter evaluates Prometheus alert rules against a query API and
// routes the resulting alerts to receivers. See the README for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, as promtool and amtool use them.
const (
	exitOK       = 0
	exitProblems = 1
	exitUsage    = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `alerter evaluates Prometheus alert rules and routes the alerts they raise.

Usage:
  alerter [run] [flags]                 run the server (see alerter run --help)
  alerter check config FILE             check a configuration and every rule file it names
  alerter check rules FILE...           check rule files
  alerter test rules [--run REGEX] [--junit FILE] FILE...
                                        run promtool rule unit tests
  alerter routes test --config.file=F [--verify.receivers=a,b] [--tree] label=value...
                                        the receivers an alert goes to, as amtool config routes test
  alerter routes show --config.file=F   print the routing tree, as amtool config routes show
  alerter receivers test --config.file=F NAME
                                        send a test notification to every integration of a receiver
  alerter backtest --config.file=F --from T [--to T] [--rule NAME] [--step D] [--output table|json]
                                        what the alerting rules and routing would have done over a past range
  alerter storage migrate --from DIR --to postgres://...
                                        copy a stopped alerter's state from its storage folder into PostgreSQL
  alerter why --alertmanager.url=URL label=value...
                                        why an alert paged or did not: its timeline from a running alerter
  alerter version                       print the version (also alerter --version)
  alerter help [COMMAND]                print this, or a command's usage (also alerter COMMAND --help)
`

// run executes the command in args and returns the process's exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		// Without a command: alerter --help lists the commands (alerter
		// run --help the server's flags), alerter --version as in
		// Prometheus.
		switch args[0] {
		case "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return exitOK
		case "--version":
			printVersion(stdout)
			return exitOK
		}
	}
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runServer(ctx, args, stdout, stderr)
	case "check":
		return runCheck(args, stdout, stderr)
	case "test":
		return runTest(ctx, args, stdout, stderr)
	case "routes":
		return runRoutes(args, stdout, stderr)
	case "receivers":
		return runReceivers(ctx, args, stdout, stderr)
	case "backtest":
		return runBacktest(ctx, args, stdout, stderr)
	case "why":
		return runWhy(ctx, args, stdout, stderr)
	case "storage":
		return runStorage(ctx, args, stdout, stderr)
	case "version":
		printVersion(stdout)
		return exitOK
	case "help":
		if len(args) == 0 {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		// alerter help COMMAND [SUBCOMMAND]: that command's usage.
		return run(ctx, append(args[:min(len(args), 2):min(len(args), 2)], "--help"), stdout, stderr)
	default:
		fmt.Fprintf(stderr, "alerter: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}
