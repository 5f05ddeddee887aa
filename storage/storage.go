// Package storage keeps alerter's durable state: what must survive a
// restart or a crash (alert states, silences, the notification log and the
// alert store), and the history of notifications. It is one SQLite
// database under --storage.path, or a PostgreSQL database named by a
// postgres:// URL (--storage.url), which replicas can share. Both run the
// same queries; every write is one transaction, durable before it returns.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// DB is the open state database. It holds an exclusive lock on the storage
// folder so that two processes never share it.
type DB struct {
	// db is the one writer connection; read is a pool of read-only
	// connections. With the write-ahead log, readers never wait for the
	// writer nor it for them: a long history query does not hold up the
	// notification log's writes, which have a deadline.
	db   *sql.DB
	read *sql.DB
	// fast, on PostgreSQL, runs the claims and leases: commits that do
	// not wait for the WAL's flush (see openPostgres); nil on SQLite.
	fast *sql.DB
	lock *os.File
	path string
	// postgres is set for a PostgreSQL database: queries are written with
	// ? placeholders and rebound to $n (see q).
	postgres bool
	queries  sync.Map // query with ? → query with $n
	closePG  func()
	metrics  *dbMetrics

	commit committer

	// stmts are the hot writes prepared on the writer connection at Open
	// (preparing a statement costs as much as running it); transactions
	// use them through tx.Stmt, which reuses the preparation.
	stmts map[string]*sql.Stmt
}

// q returns query as the database takes it: as written for SQLite, with
// each ? placeholder numbered ($1, $2, ...) for PostgreSQL. The queries
// have no ? inside string literals. {touch}, in an upsert's update, records
// the writing transaction on PostgreSQL, which the reads of changes since
// a cursor go by (changedSince); SQLite, which one process holds, has
// none.
func (s *DB) q(query string) string {
	if !s.postgres {
		return strings.ReplaceAll(query, "{touch}", "")
	}
	if v, ok := s.queries.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range strings.ReplaceAll(query, "{touch}", ", txid = DEFAULT") {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	s.queries.Store(query, b.String())
	return b.String()
}

// hotWrites are the statements prepared at Open.
var hotWrites = []string{insertLogEntry}

// execer runs one statement with arguments.
type execer interface {
	Exec(args ...any) (sql.Result, error)
}

// txExec runs query in tx, as PostgreSQL takes it: pgx prepares each
// statement once per connection and keeps it.
type txExec struct {
	tx    *sql.Tx
	query string
}

func (e txExec) Exec(args ...any) (sql.Result, error) { return e.tx.Exec(e.query, args...) }

// stmt returns query for use in tx: on SQLite the statement prepared at
// Open; on PostgreSQL the query itself (tx.Stmt would prepare it again on
// the transaction's connection, a round trip each time). Like the rest of
// a group commit, it runs whatever the writer's context says.
func (s *DB) stmt(tx *sql.Tx, query string) (execer, error) {
	if s.postgres {
		return txExec{tx, s.q(query)}, nil
	}
	st, ok := s.stmts[query]
	if !ok {
		return nil, fmt.Errorf("statement not prepared: %s", query)
	}
	return tx.Stmt(st), nil
}

// migrations create the schema; migration i brings user_version from i to i+1.
var migrations = []string{
	`CREATE TABLE alert_states (
		group_key         TEXT    NOT NULL,
		rule_key          TEXT    NOT NULL,
		labels            TEXT    NOT NULL, -- JSON object
		annotations       TEXT    NOT NULL, -- JSON object
		state             TEXT    NOT NULL,
		value             REAL,             -- NULL for NaN
		active_at         INTEGER NOT NULL, -- Unix nanoseconds; 0 when unset
		fired_at          INTEGER NOT NULL,
		resolved_at       INTEGER NOT NULL,
		last_sent_at      INTEGER NOT NULL,
		valid_until       INTEGER NOT NULL,
		keep_firing_since INTEGER NOT NULL,
		PRIMARY KEY (group_key, rule_key, labels)
	) WITHOUT ROWID`,
	`CREATE TABLE silences (
		id         TEXT    PRIMARY KEY,
		matchers   TEXT    NOT NULL, -- JSON array of {name, value, type}
		starts_at  INTEGER NOT NULL, -- Unix nanoseconds
		ends_at    INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		created_by TEXT    NOT NULL,
		comment    TEXT    NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE notification_log (
		key        TEXT    PRIMARY KEY, -- group key, receiver and integration
		firing     BLOB    NOT NULL,    -- sorted fingerprints, 8 bytes each, big endian
		resolved   BLOB    NOT NULL,
		sent_at    INTEGER NOT NULL,    -- Unix nanoseconds
		expires_at INTEGER NOT NULL
	) WITHOUT ROWID`,
	`CREATE TABLE notification_history (
		id           INTEGER PRIMARY KEY,
		at           INTEGER NOT NULL, -- Unix nanoseconds
		duration_ns  INTEGER NOT NULL,
		receiver     TEXT    NOT NULL,
		integration  TEXT    NOT NULL, -- "webhook/0"
		group_key    TEXT    NOT NULL,
		status       TEXT    NOT NULL, -- firing or resolved
		alerts       TEXT    NOT NULL, -- JSON array of label sets, at most historyMaxAlerts
		alerts_total INTEGER NOT NULL, -- how many alerts the notification carried
		attempt      INTEGER NOT NULL,
		error        TEXT    NOT NULL, -- empty on success
		reason       TEXT    NOT NULL
	);
	CREATE INDEX notification_history_at ON notification_history (at);
	CREATE INDEX notification_history_receiver_at ON notification_history (receiver, at)`,
	// Notifications started and not yet confirmed (dispatch.LogEntry.Pending).
	`ALTER TABLE notification_log ADD COLUMN pending BLOB NOT NULL DEFAULT x'';
	ALTER TABLE notification_log ADD COLUMN pending_at INTEGER NOT NULL DEFAULT 0`,
	// The alert store (dispatch.Store), written behind.
	`CREATE TABLE alerts (
		fingerprint   INTEGER PRIMARY KEY, -- the label set's fingerprint, as a signed 64-bit integer
		labels        TEXT    NOT NULL,    -- JSON object
		annotations   TEXT    NOT NULL,    -- JSON object
		starts_at     INTEGER NOT NULL,    -- Unix nanoseconds
		ends_at       INTEGER NOT NULL,
		updated_at    INTEGER NOT NULL,
		timeout       INTEGER NOT NULL,    -- 1: the end is resolve_timeout's, not the sender's
		generator_url TEXT    NOT NULL
	);
	CREATE TABLE meta (
		key   TEXT    PRIMARY KEY,
		value INTEGER NOT NULL
	) WITHOUT ROWID`,
	// The processes sharing the database (Replicas).
	`CREATE TABLE replicas (
		id         TEXT    PRIMARY KEY,
		address    TEXT    NOT NULL,
		started_at INTEGER NOT NULL, -- Unix nanoseconds, the replica's clock
		seen_at    INTEGER NOT NULL
	) WITHOUT ROWID`,
	// Claims of replicas sharing the database (claims.go): a notification
	// log entry's sender, and the rule groups' evaluators.
	`ALTER TABLE notification_log ADD COLUMN owner TEXT NOT NULL DEFAULT '';
	ALTER TABLE notification_log ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
	-- the notified alerts' versions (their update times, Unix nanoseconds,
	-- 8 bytes each, big endian): firing then resolved, as listed
	ALTER TABLE notification_log ADD COLUMN versions BLOB NOT NULL DEFAULT x'';
	CREATE TABLE group_leases (
		group_key   TEXT    PRIMARY KEY,
		owner       TEXT    NOT NULL,
		lease_until INTEGER NOT NULL -- Unix nanoseconds, the database's clock
	) WITHOUT ROWID`,
	// The alerts' timelines (Events).
	`CREATE TABLE alert_events (
		id          INTEGER PRIMARY KEY,
		at          INTEGER NOT NULL, -- Unix nanoseconds
		fingerprint INTEGER NOT NULL, -- the alert's, as a signed 64-bit integer
		kind        TEXT    NOT NULL, -- dispatch.Event.Kind
		group_key   TEXT    NOT NULL,
		receiver    TEXT    NOT NULL,
		integration TEXT    NOT NULL,
		data        TEXT    NOT NULL  -- JSON object: the kind's fields
	);
	CREATE INDEX alert_events_fingerprint_at ON alert_events (fingerprint, at);
	CREATE INDEX alert_events_at ON alert_events (at);
	CREATE TABLE alert_event_labels (
		fingerprint INTEGER PRIMARY KEY,
		labels      TEXT    NOT NULL, -- JSON object
		seen_at     INTEGER NOT NULL  -- the alert's latest event
	);
	CREATE INDEX alert_event_labels_seen_at ON alert_event_labels (seen_at);
	-- the silence an edit replaced (silences.Silence.Replaces)
	ALTER TABLE silences ADD COLUMN replaces TEXT NOT NULL DEFAULT ''`,
}

// IsURL reports whether target names a PostgreSQL database
// (postgres:// or postgresql://) rather than a storage folder.
func IsURL(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// Open opens the state database and brings its schema up to date: the
// PostgreSQL database target names when it is a postgres:// URL, else the
// SQLite database in the folder target (created if needed).
func Open(ctx context.Context, target string) (*DB, error) {
	if IsURL(target) {
		return openPostgres(ctx, target)
	}
	return openSQLite(ctx, target)
}

func openSQLite(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create storage folder: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "alerter.db")
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and this way a write
	// never meets SQLITE_BUSY from ourselves.
	db.SetMaxOpenConns(1)
	s := &DB{db: db, lock: lock, path: path, metrics: newDBMetrics("sqlite")}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	read, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(readConns)
	s.read = read
	return s, nil
}

// lockDir takes an exclusive, non-blocking lock on dir/lock. The kernel
// releases it when the process dies, even by SIGKILL.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("storage folder %s is in use by another alerter process", dir)
		}
		return nil, fmt.Errorf("lock storage folder %s: %w", dir, err)
	}
	return f, nil
}

// prepare prepares the hot writes on the writer.
func (s *DB) prepare(ctx context.Context) error {
	s.stmts = map[string]*sql.Stmt{}
	for _, q := range hotWrites {
		st, err := s.db.PrepareContext(ctx, s.q(q))
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		s.stmts[q] = st
	}
	return nil
}

func (s *DB) migrate(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this alerter knows (%d): use a newer alerter", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", i+1, err)
		}
	}
	return nil
}

// tx runs f in a transaction, committed if f succeeds.
func (s *DB) tx(ctx context.Context, f func(*sql.Tx) error) error {
	return txOn(ctx, s.db, f)
}

// readConns bounds the read-only connections.
const readConns = 4

// Close closes the database and releases the folder's lock.
func (s *DB) Close() error {
	var err error
	for _, st := range s.stmts {
		err = errors.Join(err, st.Close())
	}
	err = errors.Join(err, s.db.Close())
	if s.read != nil && s.read != s.db {
		err = errors.Join(err, s.read.Close())
	}
	if s.fast != nil {
		err = errors.Join(err, s.fast.Close())
	}
	if s.lock != nil {
		err = errors.Join(err, s.lock.Close())
	}
	if s.closePG != nil {
		s.closePG()
	}
	return err
}

// Path returns the database file's path, or the PostgreSQL URL without
// its password.
func (s *DB) Path() string { return s.path }
