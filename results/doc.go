// Package results is ddpm-runner's SQLite store: the schema and its forward migrations, the
// run lifecycle (running -> finished / failed / diverged / interrupted), batched metric
// writes, provenance, and the queries the report command reads.
//
// The database runs in WAL mode with a busy timeout, so several runner processes can record
// into one file at once; every write of many rows is one transaction. The schema version
// lives in PRAGMA user_version and only ever moves forward.
package results
