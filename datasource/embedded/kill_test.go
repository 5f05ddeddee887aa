package embedded

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
)

// killHelperEnv tells the test binary, run again by TestReopenAfterKill, to
// write into the directory it names and wait to be killed.
const killHelperEnv = "EMBEDDED_KILL_HELPER_DIR"

// TestReopenAfterKill stores a sample in a child process, kills it with
// SIGKILL (no Close, the lock file left behind) and reopens the directory.
func TestReopenAfterKill(t *testing.T) {
	if dir := os.Getenv(killHelperEnv); dir != "" {
		killHelper(t, dir)
		return
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestReopenAfterKill$")
	cmd.Env = append(os.Environ(), killHelperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "the child did not report")
	require.Equal(t, "stored\n", line)
	require.NoError(t, cmd.Process.Kill())
	require.Error(t, cmd.Wait(), "killed")
	require.FileExists(t, dir+"/lock", "the unclean stop left the lock file")

	db := openDB(t, Options{Dir: dir})
	v, err := db.Query(t.Context(), "survivor", t0)
	require.NoError(t, err)
	require.Equal(t, []string{`{__name__="survivor", run="child"} => 42`}, values(v))
}

// killHelper is the child of TestReopenAfterKill: it stores a sample, says
// so, and waits to be killed.
func killHelper(t *testing.T, dir string) {
	db, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, db.Append(t.Context(), []promql.Sample{sample(t, `survivor{run="child"}`, t0, 42)}))
	fmt.Println("stored")
	select {} // until killed
}
