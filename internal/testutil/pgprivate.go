package testutil

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// PrivatePostgres is a PostgreSQL server of one test's own, from Debian's
// postgresql binaries, which the test may restart or cut replicas off
// from without disturbing the tests that share the machine's server.
type PrivatePostgres struct {
	// URL reaches database postgres as user postgres (trust).
	URL  string
	Port int
	dir  string
	bin  string
	// as runs a command as the postgres user when the tests run as root
	// (PostgreSQL refuses to run as root).
	as []string
}

// StartPrivatePostgres initialises and starts a server in a new folder;
// it is stopped and removed when the test ends. The test fails when
// Debian's postgresql is not installed (.ci/run installs it).
func StartPrivatePostgres(t testing.TB) *PrivatePostgres {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		t.Fatalf("initdb not found under /usr/lib/postgresql: apt-get install -y postgresql (or run .ci/run)")
	}
	slices.Sort(found)
	pg := &PrivatePostgres{bin: filepath.Dir(found[len(found)-1]), Port: FreePort(t)}
	dir, err := os.MkdirTemp("", "alerter-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pg.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		pg.as = []string{"runuser", "-u", "postgres", "--"}
	}
	pg.run(t, "initdb", "-D", pg.data(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	pg.start(t)
	t.Cleanup(func() { pg.stop(t, "immediate") })
	pg.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.Port)
	return pg
}

func (pg *PrivatePostgres) data() string { return filepath.Join(pg.dir, "data") }

func (pg *PrivatePostgres) run(t testing.TB, name string, args ...string) {
	t.Helper()
	argv := append(slices.Clone(pg.as), append([]string{filepath.Join(pg.bin, name)}, args...)...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func (pg *PrivatePostgres) start(t testing.TB) {
	t.Helper()
	pg.run(t, "pg_ctl", "-D", pg.data(), "-l", filepath.Join(pg.dir, "log"), "-w", "-t", "60", "start",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", pg.Port, pg.dir))
}

func (pg *PrivatePostgres) stop(t testing.TB, mode string) {
	t.Helper()
	pg.run(t, "pg_ctl", "-D", pg.data(), "-w", "-t", "60", "-m", mode, "stop")
}

// Restart stops the server as a crash would (immediate: no checkpoint,
// recovery from the write-ahead log at the start), waits pause, and starts
// it again.
func (pg *PrivatePostgres) Restart(t testing.TB, pause time.Duration) {
	t.Helper()
	pg.stop(t, "immediate")
	time.Sleep(pause)
	pg.start(t)
}

// Exec runs statements as the postgres user.
func (pg *PrivatePostgres) Exec(t testing.TB, statements ...string) {
	t.Helper()
	db, err := sql.Open("pgx", pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range statements {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
