package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MergeOptions says how Merge treats a shard's artifact files.
type MergeOptions struct {
	// LinkArtifacts records the shard's artifact files where they are (absolute paths) instead
	// of copying each run's folder into this database's artifact folder. Reading several
	// databases as one (runner report --db A --db B) merges into a scratch database this way.
	LinkArtifacts bool
	// Origin, when set, is recorded as the runs' merged_from instead of the shard's path (for
	// scratch shards that are removed after the merge).
	Origin string
}

// MergeResult is what merging one shard did.
type MergeResult struct {
	Shard     string
	Added     int      // runs new to this database
	Updated   int      // runs merged before whose record in the shard has moved on (a resumed run)
	Unchanged int      // runs this database already holds as the shard has them
	Skipped   []string // runs not imported, with why (still running)
	IDs       map[int64]int64
}

// mergedRun is one row of a shard's runs table, as Merge compares it.
type mergedRun struct {
	id                     int64
	uid, status, heartbeat string
	mainID                 int64
	mainBeat               string
	found                  bool
}

// runColumns are the runs table's columns that Merge copies (all but id).
const runColumns = "spec, spec_file, hash, group_hash, resolved, seed, status, error, started, ended, backend, heartbeat, host, pid, uid"

// Merge imports the runs of the database at shard (finished, failed, diverged and
// interrupted; running ones are skipped and listed) into s, with their params, provenance,
// summaries, timings, metric histories and artifacts. Runs are matched by their uid, so
// merging a shard twice adds nothing, and a run merged before whose shard record moved on
// (an interrupted run resumed to the end) is replaced by the newer record.
//
// A shard is checked whole (SQLite's integrity check, the schema version) before anything
// is written, and its runs are imported in one transaction: a corrupt, truncated or foreign
// shard, or a failure half-way, leaves s as it was. Artifact folders are copied beside
// their final names first and moved into place just before the commit.
func (s *Store) Merge(shard string, opt MergeOptions) (MergeResult, error) {
	res := MergeResult{Shard: shard, IDs: map[int64]int64{}}
	fail := func(err error) (MergeResult, error) {
		return MergeResult{Shard: shard}, fmt.Errorf("merge %s: %w", shard, err)
	}
	if err := checkShardFile(shard); err != nil {
		return fail(err)
	}
	ctx := context.Background()
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	uri, err := fileURI(shard, readOnlyQuery(shard))
	if err != nil {
		return fail(err)
	}
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS shard", uri); err != nil {
		return fail(fmt.Errorf("corrupt or truncated: SQLite cannot open it: %w", err))
	}
	defer conn.ExecContext(ctx, "DETACH DATABASE shard")
	if err := checkShard(ctx, conn, s); err != nil {
		return fail(err)
	}
	runs, err := shardRuns(ctx, conn)
	if err != nil {
		return fail(err)
	}
	mainRoot := ""
	if !opt.LinkArtifacts {
		if mainRoot, err = s.ClaimArtifactRoot(); err != nil {
			return fail(err)
		}
	}
	shardAbs, err := filepath.Abs(shard)
	if err != nil {
		return fail(err)
	}
	m := &merger{conn: conn, store: s, opt: opt, shard: shardAbs, shardRoot: artifactRootOf(shardAbs), mainRoot: mainRoot}
	defer m.cleanup()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	m.tx = tx
	for _, r := range runs {
		if r.status == StatusRunning {
			res.Skipped = append(res.Skipped, fmt.Sprintf("run %d is still running (if its process is gone, any writing command on the shard records that)", r.id))
			continue
		}
		if err := m.lookup(r); err != nil {
			return fail(err)
		}
		switch {
		case r.found && r.heartbeat <= r.mainBeat:
			// The same record, or this database's is newer (the run was resumed here).
			res.Unchanged++
			res.IDs[r.id] = r.mainID
			continue
		case r.found:
			if err := m.replace(r); err != nil {
				return fail(err)
			}
			res.Updated++
		default:
			if err := m.insert(r); err != nil {
				return fail(err)
			}
			res.Added++
		}
		res.IDs[r.id] = r.mainID
	}
	if err := m.place(); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		m.unplace()
		return fail(err)
	}
	m.committed = true
	return res, nil
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

// checkShard reads the whole attached shard through SQLite's integrity check and checks that
// it is a runner database of this schema version, and not this database itself.
func checkShard(ctx context.Context, conn *sql.Conn, s *Store) error {
	rows, err := conn.QueryContext(ctx, "PRAGMA shard.integrity_check")
	if err != nil {
		return fmt.Errorf("corrupt or truncated: %w", err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return fmt.Errorf("corrupt or truncated: %w", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return fmt.Errorf("corrupt or truncated: %w", err)
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
		return fmt.Errorf("corrupt or truncated: %w", err)
	}
	if v != SchemaVersion {
		return fmt.Errorf("has schema version %d, want %d (a shard written by another runner version; open it once with this runner's `runner report --db` to migrate it)", v, SchemaVersion)
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

func shardRuns(ctx context.Context, conn *sql.Conn) ([]*mergedRun, error) {
	rows, err := conn.QueryContext(ctx, `SELECT id, COALESCE(uid, ''), status, COALESCE(heartbeat, '') FROM shard.runs ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*mergedRun
	for rows.Next() {
		r := &mergedRun{}
		if err := rows.Scan(&r.id, &r.uid, &r.status, &r.heartbeat); err != nil {
			return nil, err
		}
		if r.uid == "" {
			return nil, fmt.Errorf("run %d has no uid", r.id)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// merger holds one shard's merge while its transaction is open.
type merger struct {
	conn      *sql.Conn
	tx        *sql.Tx
	store     *Store
	opt       MergeOptions
	shard     string // absolute path
	shardRoot string
	mainRoot  string
	committed bool
	// staged are artifact folders copied beside their final names: staged[i] moves to
	// final[i] at place(); a folder already at final[i] (an older copy of the run) moves to
	// old[i] until the commit.
	staged, final, old []string
	placed             int
}

func (m *merger) lookup(r *mergedRun) error {
	err := m.tx.QueryRow(`SELECT id, COALESCE(heartbeat, '') FROM main.runs WHERE uid = ?`, r.uid).Scan(&r.mainID, &r.mainBeat)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	r.found = err == nil
	return err
}

func (m *merger) insert(r *mergedRun) error {
	res, err := m.tx.Exec(`INSERT INTO main.runs (`+runColumns+`) SELECT `+runColumns+` FROM shard.runs WHERE id = ?`, r.id)
	if err != nil {
		return err
	}
	if r.mainID, err = res.LastInsertId(); err != nil {
		return err
	}
	return m.copyChildren(r)
}

func (m *merger) replace(r *mergedRun) error {
	for _, table := range []string{"params", "env", "metrics", "summaries", "timings", "artifacts"} {
		if _, err := m.tx.Exec("DELETE FROM main."+table+" WHERE run_id = ?", r.mainID); err != nil {
			return err
		}
	}
	var sets []string
	for _, c := range strings.Split(runColumns, ", ") {
		sets = append(sets, fmt.Sprintf("%s = (SELECT %s FROM shard.runs WHERE id = ?)", c, c))
	}
	args := make([]any, 0, len(sets)+1)
	for range sets {
		args = append(args, r.id)
	}
	args = append(args, r.mainID)
	if _, err := m.tx.Exec("UPDATE main.runs SET "+strings.Join(sets, ", ")+" WHERE id = ?", args...); err != nil {
		return err
	}
	return m.copyChildren(r)
}

// copyChildren copies a run's rows of every per-run table, and its artifacts, to r.mainID.
func (m *merger) copyChildren(r *mergedRun) error {
	copies := []string{
		`INSERT INTO main.params (run_id, key, value) SELECT ?, key, value FROM shard.params WHERE run_id = ?`,
		`INSERT INTO main.env (run_id, key, value) SELECT ?, key, value FROM shard.env WHERE run_id = ?`,
		`INSERT INTO main.metrics (run_id, key, step, value, wall) SELECT ?, key, step, value, wall FROM shard.metrics WHERE run_id = ? ORDER BY rowid`,
		`INSERT INTO main.summaries (run_id, key, value) SELECT ?, key, value FROM shard.summaries WHERE run_id = ?`,
		`INSERT INTO main.timings (run_id, phase, seconds) SELECT ?, phase, seconds FROM shard.timings WHERE run_id = ?`,
	}
	for _, q := range copies {
		if _, err := m.tx.Exec(q, r.mainID, r.id); err != nil {
			return err
		}
	}
	// Where the run came from, beside its own provenance.
	from := m.shard
	if m.opt.Origin != "" {
		from = m.opt.Origin
	}
	for k, v := range map[string]string{"merged_from": from, "merged_shard_run": strconv.FormatInt(r.id, 10)} {
		if _, err := m.tx.Exec(`INSERT OR REPLACE INTO main.env (run_id, key, value) VALUES (?, ?, ?)`, r.mainID, k, v); err != nil {
			return err
		}
	}
	return m.copyArtifacts(r)
}
