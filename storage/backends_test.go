package storage

import (
	"testing"

	"github.com/alerter/alerter/internal/testutil"
)

// eachBackend runs test against SQLite and PostgreSQL: newTarget returns
// a new, empty database of the backend to Open (a folder, or a URL of a
// schema of the test's own).
func eachBackend(t *testing.T, test func(t *testing.T, newTarget func() string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, func() string { return t.TempDir() }) })
	t.Run("postgres", func(t *testing.T) { test(t, func() string { return testutil.PostgresSchema(t) }) })
}
