package storage

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgMigrations create the PostgreSQL schema, the same tables and columns
// as the SQLite one (see migrations) in PostgreSQL's types; migration i
// brings alerter_schema.version from i to i+1.
var pgMigrations = []string{
	`CREATE TABLE alert_states (
		group_key         TEXT             NOT NULL,
		rule_key          TEXT             NOT NULL,
		labels            TEXT             NOT NULL, -- JSON object
		annotations       TEXT             NOT NULL, -- JSON object
		state             TEXT             NOT NULL,
		value             DOUBLE PRECISION,          -- NULL for NaN
		active_at         BIGINT           NOT NULL, -- Unix nanoseconds; 0 when unset
		fired_at          BIGINT           NOT NULL,
		resolved_at       BIGINT           NOT NULL,
		last_sent_at      BIGINT           NOT NULL,
		valid_until       BIGINT           NOT NULL,
		keep_firing_since BIGINT           NOT NULL,
		PRIMARY KEY (group_key, rule_key, labels)
	);
	CREATE TABLE silences (
		id         TEXT   PRIMARY KEY,
		matchers   TEXT   NOT NULL, -- JSON array of {name, value, type}
		starts_at  BIGINT NOT NULL, -- Unix nanoseconds
		ends_at    BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		created_by TEXT   NOT NULL,
		comment    TEXT   NOT NULL
	);
	CREATE TABLE notification_log (
		key        TEXT   PRIMARY KEY, -- group key, receiver and integration
		firing     BYTEA  NOT NULL,    -- sorted fingerprints, 8 bytes each, big endian
		resolved   BYTEA  NOT NULL,
		sent_at    BIGINT NOT NULL,    -- Unix nanoseconds
		expires_at BIGINT NOT NULL,
		pending    BYTEA  NOT NULL DEFAULT '\x',
		pending_at BIGINT NOT NULL DEFAULT 0
	);
	CREATE TABLE notification_history (
		id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		at           BIGINT NOT NULL, -- Unix nanoseconds
		duration_ns  BIGINT NOT NULL,
		receiver     TEXT   NOT NULL,
		integration  TEXT   NOT NULL, -- "webhook/0"
		group_key    TEXT   NOT NULL,
		status       TEXT   NOT NULL, -- firing or resolved
		alerts       TEXT   NOT NULL, -- JSON array of label sets, at most historyMaxAlerts
		alerts_total BIGINT NOT NULL, -- how many alerts the notification carried
		attempt      BIGINT NOT NULL,
		error        TEXT   NOT NULL, -- empty on success
		reason       TEXT   NOT NULL
	);
	CREATE INDEX notification_history_at ON notification_history (at);
	CREATE INDEX notification_history_receiver_at ON notification_history (receiver, at);
	CREATE TABLE alerts (
		fingerprint   BIGINT  PRIMARY KEY, -- the label set's fingerprint, as a signed 64-bit integer
		labels        TEXT    NOT NULL,    -- JSON object
		annotations   TEXT    NOT NULL,    -- JSON object
		starts_at     BIGINT  NOT NULL,    -- Unix nanoseconds
		ends_at       BIGINT  NOT NULL,
		updated_at    BIGINT  NOT NULL,
		timeout       BOOLEAN NOT NULL,    -- the end is resolve_timeout's, not the sender's
		generator_url TEXT    NOT NULL
	);
	CREATE TABLE meta (
		key   TEXT   PRIMARY KEY,
		value BIGINT NOT NULL
	)`,
	// The processes sharing the database (Replicas).
	`CREATE TABLE replicas (
		id         TEXT   PRIMARY KEY,
		address    TEXT   NOT NULL,
		started_at BIGINT NOT NULL, -- Unix nanoseconds, the replica's clock
		seen_at    BIGINT NOT NULL
	)`,
	// Claims (claims.go), and the alerts' writing transaction, which
	// replicas read the alerts changed since by (AlertsChangedSince).
	`ALTER TABLE notification_log ADD COLUMN owner TEXT NOT NULL DEFAULT '',
		ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0, -- Unix nanoseconds, the database's clock
		ADD COLUMN versions BYTEA NOT NULL DEFAULT '\x'; -- see the SQLite schema
	CREATE TABLE group_leases (
		group_key   TEXT   PRIMARY KEY,
		owner       TEXT   NOT NULL,
		lease_until BIGINT NOT NULL
	);
	ALTER TABLE alerts ADD COLUMN txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
	CREATE INDEX alerts_txid ON alerts (txid)`,
	// The notification log's writing transaction, which replicas read the
	// entries changed since by (LogChangedSince). A claim does not change
	// it: the entry's content stays.
	`ALTER TABLE notification_log ADD COLUMN txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
	CREATE INDEX notification_log_txid ON notification_log (txid)`,
	// The alerts' timelines (Events).
	`CREATE TABLE alert_events (
		id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		at          BIGINT NOT NULL, -- Unix nanoseconds
		fingerprint BIGINT NOT NULL, -- the alert's, as a signed 64-bit integer
		kind        TEXT   NOT NULL,
		group_key   TEXT   NOT NULL,
		receiver    TEXT   NOT NULL,
		integration TEXT   NOT NULL,
		data        TEXT   NOT NULL  -- JSON object: the kind's fields
	);
	CREATE INDEX alert_events_fingerprint_at ON alert_events (fingerprint, at);
	CREATE INDEX alert_events_at ON alert_events (at);
	CREATE TABLE alert_event_labels (
		fingerprint BIGINT PRIMARY KEY,
		labels      TEXT   NOT NULL,
		seen_at     BIGINT NOT NULL
	);
	CREATE INDEX alert_event_labels_seen_at ON alert_event_labels (seen_at);
	ALTER TABLE silences ADD COLUMN replaces TEXT NOT NULL DEFAULT ''`,
}

// pgPoolConns is the size of each of a replica's two connection pools,
// unless its URL sets pool_max_conns: three replicas use 60 of
// PostgreSQL's default 100 connections.
const pgPoolConns = 10

// migrationLock is the key of the advisory lock that serialises schema
// migrations of replicas starting at once.
const migrationLock = 0x616c65727465 // "alerte"

// openPostgres opens the PostgreSQL database named by rawURL through a
// pgx connection pool and brings its schema up to date.
func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	shown := redactURL(rawURL)
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx's parse errors may quote the URL, password included.
		return nil, fmt.Errorf("storage URL %s: cannot be parsed", shown)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", shown, err)
	}
	// Claims, their renewals and the group leases go through a pool of
	// their own that does not wait for the WAL to be flushed: a claim
	// that a crash of the database loses is one whose lease ran out, and
	// they are most of the writes of replicas that share the database.
	// pgx's default (four connections, or one per CPU) starves a replica
	// flushing thousands of groups at once: renewals then wait behind
	// claims, and leases run out. Unless the URL sets pool_max_conns.
	if !strings.Contains(rawURL, "pool_max_conns") {
		cfg.MaxConns = pgPoolConns
	}
	fastCfg := cfg.Copy()
	fastCfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	fastPool, err := pgxpool.NewWithConfig(ctx, fastCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open %s: %w", shown, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	fast := stdlib.OpenDBFromPool(fastPool)
	s := &DB{db: db, read: db, fast: fast, path: shown, postgres: true,
		closePG: func() { pool.Close(); fastPool.Close() }, metrics: newDBMetrics("postgres")}
	if err := db.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to %s: %w", shown, err)
	}
	if err := s.migratePostgres(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", shown, err)
	}
	return s, nil
}

// migratePostgres applies the migrations not applied yet, under an
// advisory lock held for the transaction, so that replicas starting at
// once apply each migration exactly once; it is idempotent.
func (s *DB) migratePostgres(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("lock the schema: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS alerter_schema (version INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("create the schema version table: %w", err)
		}
		var version int
		err := tx.QueryRowContext(ctx, `SELECT version FROM alerter_schema`).Scan(&version)
		switch {
		case err == sql.ErrNoRows:
			if _, err := tx.ExecContext(ctx, `INSERT INTO alerter_schema (version) VALUES (0)`); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("read schema version: %w", err)
		}
		if version > len(pgMigrations) {
			return fmt.Errorf("schema version %d is newer than this alerter knows (%d): use a newer alerter", version, len(pgMigrations))
		}
		for i := version; i < len(pgMigrations); i++ {
			if _, err := tx.ExecContext(ctx, pgMigrations[i]); err != nil {
				return fmt.Errorf("migrate schema to version %d: %w", i+1, err)
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE alerter_schema SET version = $1`, len(pgMigrations))
		return err
	})
}

// redactURL returns rawURL with its password replaced, for messages.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
