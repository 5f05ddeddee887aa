package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/alerter/alerter/storage"
)

// runStorage runs `alerter storage migrate --from DIR --to URL`: it copies
// a single node's state from its SQLite storage folder into an empty
// PostgreSQL database, in one transaction. Exit 0 on success, 1 on a
// problem (nothing is written then), 2 on a usage error.
func runStorage(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	_, args, code, done := subcommand("storage", map[string]string{
		"migrate": "copy a single node's state from its SQLite storage folder into PostgreSQL",
	}, args, stdout, stderr)
	if done {
		return code
	}
	fs := newFlags("alerter storage migrate", "alerter storage migrate --from [sqlite:]DIR --to postgres://...",
		"Copies the state of an alerter that is not running (silences, notification log, alert states, the\n"+
			"alert store and the notification history) from its --storage.path folder into an empty PostgreSQL\n"+
			"database, in one transaction: on any problem nothing is written. Then run alerter with --storage.url.")
	from := fs.String("from", "", "the SQLite storage folder (--storage.path of the old alerter), optionally as sqlite:DIR")
	to := fs.String("to", "", "the PostgreSQL database, a postgres:// URL")
	rest, code, done := fs.parse(args, stdout, stderr)
	if done {
		return code
	}
	dir := strings.TrimPrefix(*from, "sqlite:")
	switch {
	case len(rest) > 0:
		return fs.usageError(stderr, "unexpected arguments: %s", strings.Join(rest, " "))
	case dir == "" || storage.IsURL(dir):
		return fs.usageError(stderr, "--from must be a storage folder")
	case !storage.IsURL(*to):
		return fs.usageError(stderr, "--to must be a postgres:// or postgresql:// URL")
	}
	// Opening would make a new, empty storage where there is none.
	if _, err := os.Stat(filepath.Join(dir, storageFile)); err != nil {
		fmt.Fprintf(stderr, "alerter storage migrate: --from %s: no alerter storage there: %v\n", dir, err)
		return exitProblems
	}
	src, err := storage.Open(ctx, dir)
	if err != nil {
		fmt.Fprintf(stderr, "alerter storage migrate: %v\n", err)
		return exitProblems
	}
	defer src.Close()
	dst, err := storage.Open(ctx, *to)
	if err != nil {
		fmt.Fprintf(stderr, "alerter storage migrate: %v\n", err)
		return exitProblems
	}
	defer dst.Close()
	counts, err := storage.Copy(ctx, src, dst)
	if err != nil {
		fmt.Fprintf(stderr, "alerter storage migrate: %v\n", err)
		return exitProblems
	}
	fmt.Fprintf(stdout, "copied %s into %s: %d silences, %d notification log entries, %d alert states, %d alerts, %d notification history entries, %d alert events\n",
		src.Path(), dst.Path(), counts["silences"], counts["notification_log"], counts["alert_states"], counts["alerts"], counts["notification_history"], counts["alert_events"])
	return exitOK
}
