package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// migrations[i] brings a database from schema version i to i+1. Never edit a migration
// that has shipped: add a new one.
var migrations = []string{
	// 1: the core tables.
	`CREATE TABLE runs (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		spec       TEXT NOT NULL,
		spec_file  TEXT NOT NULL,
		hash       TEXT NOT NULL,
		group_hash TEXT NOT NULL,
		resolved   TEXT NOT NULL,
		seed       INTEGER NOT NULL,
		status     TEXT NOT NULL,
		error      TEXT NOT NULL DEFAULT '',
		started    TEXT NOT NULL,
		ended      TEXT
	);
	CREATE TABLE params (
		run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		key    TEXT NOT NULL,
		value  TEXT NOT NULL,
		PRIMARY KEY (run_id, key)
	);
	CREATE TABLE metrics (
		run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		key    TEXT NOT NULL,
		step   INTEGER NOT NULL,
		value  REAL,
		wall   REAL NOT NULL
	);
	CREATE TABLE summaries (
		run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		key    TEXT NOT NULL,
		value  REAL,
		PRIMARY KEY (run_id, key)
	);`,
	// 2: provenance, timings, artifacts, heartbeats and the indexes reports need.
	`ALTER TABLE runs ADD COLUMN backend TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN heartbeat TEXT;
	CREATE TABLE env (
		run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		key    TEXT NOT NULL,
		value  TEXT NOT NULL,
		PRIMARY KEY (run_id, key)
	);
	CREATE TABLE timings (
		run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		phase   TEXT NOT NULL,
		seconds REAL NOT NULL,
		PRIMARY KEY (run_id, phase)
	);
	CREATE TABLE artifacts (
		run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		name   TEXT NOT NULL,
		path   TEXT NOT NULL DEFAULT '',
		blob   BLOB,
		PRIMARY KEY (run_id, name)
	);
	CREATE INDEX metrics_run_key_step ON metrics(run_id, key, step);
	CREATE INDEX runs_group ON runs(group_hash);`,
	// 3: who runs a run (host and pid, so a crash is recognised without waiting for the
	// heartbeat to age), and the database's own facts (its id).
	`ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE meta (
		key   TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);`,
	// 4: every run's stable unique id, kept when a run is merged into another database, so
	// that merging a shard twice (or after it grew) adds each run once.
	`ALTER TABLE runs ADD COLUMN uid TEXT;
	UPDATE runs SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;
	CREATE UNIQUE INDEX runs_uid ON runs(uid);`,
}

// SchemaVersion is the version a database has after Open.
var SchemaVersion = len(migrations)

// runnerTables are the tables of a runner database. Each must be a real table: a view in its
// place (a database from elsewhere is anyone's file) can compute rows without end, and every
// report, merge or run that reads it would never finish.
var runnerTables = []string{"runs", "params", "env", "metrics", "summaries", "timings", "artifacts", "meta"}

// querier is what checkTables needs of a database, a connection or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// checkTables checks that every table of a runner database of this schema version, in the
// database attached as schema ("main", or "shard" during a merge), is a real table (not a
// view) with every column that this runner's schema gives it. It reads only the schema, so
// it ends quickly whatever the tables hold.
func checkTables(ctx context.Context, q querier, schema string) error {
	want, err := schemaColumns()
	if err != nil {
		return err
	}
	for _, table := range runnerTables {
		if err := checkTable(ctx, q, schema, table, want[table]); err != nil {
			return err
		}
	}
	return nil
}

func checkTable(ctx context.Context, q querier, schema, table string, want []string) error {
	var typ string
	err := q.QueryRowContext(ctx, "SELECT type FROM "+schema+".sqlite_master WHERE name = ? COLLATE NOCASE AND type IN ('table', 'view')", table).Scan(&typ)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("has no table %s, so it is not a runner database", table)
	}
	if err != nil {
		return sqliteProblem(err)
	}
	if typ != "table" {
		return fmt.Errorf("its %s is a %s, not a table as a runner writes it", table, typ)
	}
	have := map[string]bool{}
	rows, err := q.QueryContext(ctx, "SELECT name FROM pragma_table_info(?, ?)", table, schema)
	if err != nil {
		return sqliteProblem(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return sqliteProblem(err)
		}
		have[strings.ToLower(c)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sqliteProblem(err)
	}
	for _, c := range want {
		if !have[strings.ToLower(c)] {
			return fmt.Errorf("its table %s has no column %s, so it is not a runner database of this schema", table, c)
		}
	}
	return nil
}

var (
	schemaColumnsOnce sync.Once
	schemaColumnsMap  map[string][]string
	schemaColumnsErr  error
)

// schemaColumns is the columns of each of runnerTables in a database of this schema version,
// read from an empty in-memory database built by the migrations, so that they are said once,
// in the migrations.
func schemaColumns() (map[string][]string, error) {
	schemaColumnsOnce.Do(func() {
		schemaColumnsMap, schemaColumnsErr = readSchemaColumns()
	})
	return schemaColumnsMap, schemaColumnsErr
}

func readSchemaColumns() (map[string][]string, error) {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// Every connection to :memory: is a database of its own.
	db.SetMaxOpenConns(1)
	for v, m := range migrations {
		if _, err := db.Exec(m); err != nil {
			return nil, fmt.Errorf("results: schema version %d: %w", v+1, err)
		}
	}
	cols := map[string][]string{}
	for _, table := range runnerTables {
		rows, err := db.Query("SELECT name FROM pragma_table_info(?)", table)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return nil, err
			}
			cols[table] = append(cols[table], c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(cols[table]) == 0 {
			return nil, fmt.Errorf("results: the schema has no table %s", table)
		}
	}
	return cols, nil
}
