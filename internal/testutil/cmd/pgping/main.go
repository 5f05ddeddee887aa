// Command pgping exits 0 when the tests' PostgreSQL (testutil.PostgresURL)
// answers within five seconds, 1 otherwise; .ci/run uses it to decide
// whether to start one.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/alerter/alerter/internal/testutil"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", testutil.PostgresURL())
	if err == nil {
		err = db.PingContext(ctx)
		db.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
