package results

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
