package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/stretchr/testify/require"

	"github.com/alerter/alerter/internal/testutil"
	"github.com/alerter/alerter/silences"
	"github.com/alerter/alerter/storage"
)

func TestStorageMigrateCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src, err := storage.Open(ctx, dir)
	require.NoError(t, err)
	m, err := labels.NewMatcher(labels.MatchEqual, "team", "db")
	require.NoError(t, err)
	now := time.Now()
	require.NoError(t, src.Silences().SaveSilences(ctx, []silences.Silence{{ID: "x", Matchers: labels.Matchers{m},
		StartsAt: now, EndsAt: now.Add(time.Hour), UpdatedAt: now, CreatedBy: "me", Comment: "c"}}, nil))
	require.NoError(t, src.Close())
	url := testutil.PostgresSchema(t)

	code, stdout, stderr := runCLI(t, "storage", "migrate", "--from", "sqlite:"+dir, "--to", url)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "1 silences")
	dst, err := storage.Open(ctx, url)
	require.NoError(t, err)
	got, err := dst.Silences().LoadSilences(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.NoError(t, dst.Close())

	code, _, stderr = runCLI(t, "storage", "migrate", "--from", dir, "--to", url)
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, "already holds state")
	code, _, stderr = runCLI(t, "storage", "migrate", "--from", filepath.Join(t.TempDir(), "none"), "--to", url)
	require.Equal(t, exitProblems, code)
	require.Contains(t, stderr, "no alerter storage there")
	for _, args := range [][]string{{"storage"}, {"storage", "migrate"}, {"storage", "migrate", "--from", dir}, {"storage", "migrate", "--from", dir, "--to", dir}} {
		code, _, _ := runCLI(t, args...)
		require.Equal(t, exitUsage, code, "%v", args)
	}
}
