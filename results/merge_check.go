package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// Bounds on what is read from a shard into memory, so that a hostile shard cannot make a
// merge run (or grow) without end. A shard holds one sweep's trials, or one database's runs.
var (
	maxShardRuns    = 100000
	maxRunArtifacts = 10000
)

// validStatuses are the statuses a runner records.
var validStatuses = map[string]bool{
	StatusRunning: true, StatusFinished: true, StatusFailed: true, StatusDiverged: true, StatusInterrupted: true,
}

// checkShardFile refuses a shard that is missing, empty or not a SQLite file before SQLite
// is asked to open it (an empty file would open as an empty database).
func checkShardFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("is a directory, not a shard database")
	}
	if st.Size() == 0 {
		return fmt.Errorf("is empty, not a shard database")
	}
	return checkIsSQLite(path)
}

// attachShard attaches the shard read-only as "shard", opened the way OpenReadOnly opens a
// database (see readOnlyQuery).
func attachShard(ctx context.Context, conn *sql.Conn, shard string) error {
	query, err := readOnlyQuery(shard)
	if err != nil {
		return err
	}
	uri, err := fileURI(shard, query)
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS shard", uri); err != nil {
		return sqliteProblem(err)
	}
	return nil
}

// sqliteProblem says what SQLite's error means for a shard: a damaged file, or one that
// cannot be opened or read at all.
func sqliteProblem(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return fmt.Errorf("corrupt or truncated: %w", err)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("cannot be read: %w", err)
}

// checkShard reads the whole attached shard through SQLite's integrity check and checks that
// it is a runner database of this schema version whose tables are real tables with this
// runner's columns, and not this database itself.
func checkShard(ctx context.Context, conn *sql.Conn, s *Store) error {
	rows, err := conn.QueryContext(ctx, "PRAGMA shard.integrity_check")
	if err != nil {
		return sqliteProblem(err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return sqliteProblem(err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return sqliteProblem(err)
	}
	rows.Close()
	if len(problems) > 0 {
		if len(problems) > 3 {
			problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
		}
		return fmt.Errorf("corrupt: SQLite's integrity check says %s", strings.Join(problems, "; "))
	}
	var v int
	if err := conn.QueryRowContext(ctx, "PRAGMA shard.user_version").Scan(&v); err != nil {
		return sqliteProblem(err)
	}
	switch {
	case v > SchemaVersion:
		return fmt.Errorf("was made by a newer runner (schema version %d; this runner knows up to %d): upgrade the runner to merge it", v, SchemaVersion)
	case v < SchemaVersion:
		return fmt.Errorf("has schema version %d, older than this runner's %d: open it once with this runner where it can be written (`runner report --db SHARD`) to migrate it, then merge it", v, SchemaVersion)
	}
	if err := checkTables(ctx, conn, "shard"); err != nil {
		return err
	}
	var shardID string
	if err := conn.QueryRowContext(ctx, "SELECT value FROM shard.meta WHERE key = 'database_id'").Scan(&shardID); err != nil {
		return fmt.Errorf("has no database id: %w", err)
	}
	mainID, err := s.DatabaseID()
	if err != nil {
		return err
	}
	if shardID == mainID {
		return fmt.Errorf("is the database being merged into (%s)", s.Path)
	}
	return nil
}

// shardRuns reads the shard's runs (at most maxShardRuns) and refuses a made-up status, a
// missing uid, or two runs with one uid.
func shardRuns(ctx context.Context, conn *sql.Conn) ([]*mergedRun, error) {
	rows, err := conn.QueryContext(ctx, `SELECT id, COALESCE(uid, ''), COALESCE(status, ''), COALESCE(heartbeat, '') FROM shard.runs ORDER BY id LIMIT ?`, maxShardRuns+1)
	if err != nil {
		return nil, sqliteProblem(err)
	}
	defer rows.Close()
	var out []*mergedRun
	byUID := map[string]int64{}
	for rows.Next() {
		if len(out) == maxShardRuns {
			return nil, fmt.Errorf("has more than %d runs, more than a merge reads from one shard", maxShardRuns)
		}
		r := &mergedRun{}
		if err := rows.Scan(&r.id, &r.uid, &r.status, &r.heartbeat); err != nil {
			return nil, sqliteProblem(err)
		}
		if !validStatuses[r.status] {
			return nil, fmt.Errorf("run %d has status %q; a run's status is one of running, finished, failed, diverged or interrupted", r.id, r.status)
		}
		if r.uid == "" {
			return nil, fmt.Errorf("run %d has no uid", r.id)
		}
		if first, dup := byUID[r.uid]; dup {
			return nil, fmt.Errorf("runs %d and %d have the same uid %q; every run of a runner database has its own", first, r.id, r.uid)
		}
		byUID[r.uid] = r.id
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, sqliteProblem(err)
	}
	return out, nil
}
