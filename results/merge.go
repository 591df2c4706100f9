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

	"github.com/mattn/go-sqlite3"
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
	// Context, when cancelled (a signal), stops the merge: before its folders are moved into
	// place it stops and removes what it staged, and the database is as it was; once they are
	// being moved it finishes, so that the database and its folders agree.
	Context context.Context
	// Phase, when set, is told each phase of the merge as it starts (the Phase* names), and
	// "" when the merge returns; the fault-injection tests aim their signals with it.
	Phase func(name string)
}

// The phases of a merge, as MergeOptions.Phase is told them.
const (
	PhaseMergeChecking  = "merge.checking"  // reading the shard whole and checking it
	PhaseMergeCopying   = "merge.copying"   // copying artifact folders to a staging folder; no lock held
	PhaseMergeInserting = "merge.inserting" // writing the rows, under the database's write lock
	PhaseMergeRenaming  = "merge.renaming"  // moving the staged folders into place, then the commit
	PhaseMergeCleaning  = "merge.cleaning"  // committed; removing the staging folder and replaced folders
)

// MergeResult is what merging one shard did.
type MergeResult struct {
	Shard     string
	Added     int      // runs new to this database
	Updated   int      // runs merged before whose record in the shard has moved on (a resumed run)
	Unchanged int      // runs this database already holds as the shard has them
	Skipped   []string // runs not imported, with why (still running in the shard, live here)
	IDs       map[int64]int64
}

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

// shardTables are the tables Merge reads from a shard; each must be a real table (a view
// could compute rows without end) with every column this runner's has.
var shardTables = []string{"runs", "params", "env", "metrics", "summaries", "timings", "artifacts", "meta"}

// mergedRun is one row of a shard's runs table, as Merge compares it and plans its import.
type mergedRun struct {
	id                     int64
	uid, status, heartbeat string
	// This database's record of the same uid, when found.
	found                          bool
	mainID                         int64
	mainBeat, mainStatus, mainHost string
	mainPid                        int64
	// src is the real path of the run's artifact folder in the shard ("" if it has none);
	// arts its artifact rows with their paths resolved inside it.
	src  string
	arts []mergedArtifact
	// staged is the run's folder copied into the staging folder ("" if none).
	staged string
}

// mergedArtifact is one artifact row of a shard's run: rel is its path inside the run's
// folder and real its resolved path, or both empty for an artifact without a file.
type mergedArtifact struct {
	name, rel, real string
}

// runColumns are the runs table's columns that Merge copies (all but id).
const runColumns = "spec, spec_file, hash, group_hash, resolved, seed, status, error, started, ended, backend, heartbeat, host, pid, uid"

// Merge imports the runs of the database at shard (finished, failed, diverged and
// interrupted; running ones are skipped and listed) into s, with their params, provenance,
// summaries, timings, metric histories and artifacts. Runs are matched by their uid, so
// merging a shard twice adds nothing, and a run merged before whose shard record moved on
// (an interrupted run resumed to the end) is replaced by the newer record, unless the run
// is live here (its lock held by a process, or recorded running): a live run is never
// replaced, whatever the heartbeats say, and is listed as skipped.
//
// A shard is checked whole (SQLite's integrity check, the schema version, its tables and
// columns, its runs' statuses and uids, and that every artifact path stays inside its run's
// folder) before anything is written. Its artifact folders are then copied into a staging
// folder without holding any lock on s, so that runs writing to s go on meanwhile; only the
// row inserts and the moves of the staged folders into place are done under s's write lock,
// in one transaction. A corrupt, truncated or foreign shard, or a failure half-way, leaves s
// as it was; a merge killed half-way is finished or undone by RecoverMerges.
func (s *Store) Merge(shard string, opt MergeOptions) (MergeResult, error) {
	ctx := opt.Context
	if ctx == nil {
		ctx = context.Background()
	}
	phase := opt.Phase
	if phase == nil {
		phase = func(string) {}
	}
	res := MergeResult{Shard: shard, IDs: map[int64]int64{}}
	fail := func(err error) (MergeResult, error) {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("interrupted by a signal; nothing of it was merged")
		}
		return MergeResult{Shard: shard}, fmt.Errorf("merge %s: %w", shard, err)
	}
	phase(PhaseMergeChecking)
	defer phase("")
	if err := checkShardFile(shard); err != nil {
		return fail(err)
	}
	// The connection is not tied to ctx: once the folders are moving, the merge must finish.
	conn, err := s.DB.Conn(context.Background())
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	if err := attachShard(ctx, conn, shard); err != nil {
		return fail(err)
	}
	defer conn.ExecContext(context.Background(), "DETACH DATABASE shard")
	if err := checkShard(ctx, conn, s); err != nil {
		return fail(err)
	}
	runs, err := shardRuns(ctx, conn)
	if err != nil {
		return fail(err)
	}
	shardAbs, err := filepath.Abs(shard)
	if err != nil {
		return fail(err)
	}
	m := &merger{conn: conn, store: s, opt: opt, shard: shardAbs, shardRoot: artifactRootOf(shardAbs)}
	defer m.cleanup()
	if !opt.LinkArtifacts {
		if m.mainRoot, err = s.ClaimArtifactRoot(); err != nil {
			return fail(err)
		}
		// What a merge killed half-way left is put right first (the CLI does this at every
		// writing open; a caller of the library gets it here). It does not affect this merge.
		_, _ = s.RecoverMerges()
	}

	// Plan, reading only: which runs are new, which replace an older record, which are
	// skipped, and where every artifact of theirs lies.
	for _, r := range runs {
		if r.status == StatusRunning {
			res.Skipped = append(res.Skipped, fmt.Sprintf("run %d is still running (if its process is gone, any writing command on the shard records that)", r.id))
			continue
		}
		if err := m.inspect(ctx, r); err != nil {
			return fail(err)
		}
		if err := m.lookup(ctx, conn, r); err != nil {
			return fail(err)
		}
		switch {
		case r.found && r.heartbeat <= r.mainBeat:
			// The same record, or this database's is newer (the run was resumed here).
			res.Unchanged++
			res.IDs[r.id] = r.mainID
			continue
		case r.found:
			why, err := m.holdIfIdle(r)
			if err != nil {
				return fail(err)
			}
			if why != "" {
				res.Skipped = append(res.Skipped, why)
				continue
			}
		}
		m.plan = append(m.plan, r)
	}
	if len(m.plan) == 0 {
		return res, nil
	}

	phase(PhaseMergeCopying)
	if !opt.LinkArtifacts {
		if err := m.stage(ctx); err != nil {
			return fail(err)
		}
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		if err := m.reserveIDs(); err != nil {
			return fail(err)
		}
		if err := m.writeManifest(); err != nil {
			return fail(err)
		}
	}

	phase(PhaseMergeInserting)
	tx, err := conn.BeginTx(context.Background(), nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	m.tx = tx
	for _, r := range m.plan {
		if err := m.recheck(r); err != nil {
			return fail(err)
		}
		if r.found {
			err = m.replace(r)
			res.Updated++
		} else {
			err = m.insert(r)
			res.Added++
		}
		if err != nil {
			return fail(err)
		}
		res.IDs[r.id] = r.mainID
	}
	if m.staging != "" {
		if _, err := tx.Exec(`INSERT INTO main.meta (key, value) VALUES (?, ?)`, journalKey(m.staging), m.shard); err != nil {
			return fail(err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}

	phase(PhaseMergeRenaming)
	if err := m.place(); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		m.unplace()
		return fail(err)
	}
	m.committed = true
	testStep("committed")
	phase(PhaseMergeCleaning)
	m.finish()
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
	for _, table := range shardTables {
		if err := checkShardTable(ctx, conn, table); err != nil {
			return err
		}
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

// checkShardTable checks that the shard's table is a table (not a view, whose rows may be
// computed without end) and has every column that this database's table of that name has.
func checkShardTable(ctx context.Context, conn *sql.Conn, table string) error {
	var typ string
	err := conn.QueryRowContext(ctx, "SELECT type FROM shard.sqlite_master WHERE name = ? COLLATE NOCASE AND type IN ('table', 'view')", table).Scan(&typ)
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
	rows, err := conn.QueryContext(ctx, "SELECT name FROM pragma_table_info(?, 'shard')", table)
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
	want, err := columnsOf(ctx, conn, table)
	if err != nil {
		return err
	}
	for _, c := range want {
		if !have[strings.ToLower(c)] {
			return fmt.Errorf("its table %s has no column %s, so it is not a runner database of this schema", table, c)
		}
	}
	return nil
}

// columnsOf is the columns of this database's table.
func columnsOf(ctx context.Context, conn *sql.Conn, table string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT name FROM pragma_table_info(?, 'main')", table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
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

// merger holds one shard's merge from its plan to its commit.
type merger struct {
	conn      *sql.Conn
	tx        *sql.Tx
	store     *Store
	opt       MergeOptions
	shard     string // absolute path
	shardRoot string
	mainRoot  string // "" when artifacts are linked
	plan      []*mergedRun
	// locks are the held run locks of the runs to be replaced (and of their staged copies),
	// so that no resume starts on them until the merge has ended.
	locks []*os.File
	// staging is the folder the run folders are copied into (see merge_artifacts.go), with
	// stagingLock held on it; pairs are its moves into place, placed how many are done.
	staging     string
	stagingLock *os.File
	pairs       []stagedPair
	placed      int
	committed   bool
}

// rowQuerier is a connection or a transaction.
type rowQuerier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// lookup finds this database's record of the run's uid.
func (m *merger) lookup(ctx context.Context, q rowQuerier, r *mergedRun) error {
	err := q.QueryRowContext(ctx, `SELECT id, COALESCE(heartbeat, ''), status, host, pid FROM main.runs WHERE uid = ?`, r.uid).
		Scan(&r.mainID, &r.mainBeat, &r.mainStatus, &r.mainHost, &r.mainPid)
	if errors.Is(err, sql.ErrNoRows) {
		r.found = false
		return nil
	}
	r.found = err == nil
	return err
}

// holdIfIdle decides whether a run that this database holds may be replaced: not while it is
// live here, which its record (running) or its lock (held by a process, such as a resume
// that has not yet recorded itself) says, whatever the heartbeats say. If it may, its lock is
// taken and held until the merge ends, so that no resume starts on it meanwhile. The reason
// it is skipped is returned, or "".
func (m *merger) holdIfIdle(r *mergedRun) (string, error) {
	if r.mainStatus == StatusRunning {
		return fmt.Sprintf("run %d is live in this database as run %d (recorded running by pid %d on %s); not replaced: merge again after it ends",
			r.id, r.mainID, r.mainPid, r.mainHost), nil
	}
	if m.mainRoot == "" {
		return "", nil
	}
	dir := filepath.Join(m.mainRoot, strconv.FormatInt(r.mainID, 10))
	if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
		return "", nil
	}
	f, err := LockRunFolder(dir)
	if errors.Is(err, ErrLocked) {
		return fmt.Sprintf("run %d is live in this database as run %d (its lock is held by a running process, such as a resume); not replaced: merge again after it ends",
			r.id, r.mainID), nil
	}
	if err != nil {
		return "", err
	}
	m.locks = append(m.locks, f)
	return "", nil
}

// recheck reads the run's record again under the write lock: the plan was made without it,
// and another process (a second merge of the same shard) may have written the uid since.
func (m *merger) recheck(r *mergedRun) error {
	again := *r
	if err := m.lookup(context.Background(), m.tx, &again); err != nil {
		return err
	}
	if again.found != r.found || (r.found && (again.mainID != r.mainID || again.mainBeat != r.mainBeat || again.mainStatus != r.mainStatus)) {
		return fmt.Errorf("run %d (uid %s) was written to this database by another process while it was being merged; nothing was merged from this shard: merge it again", r.id, r.uid)
	}
	return nil
}

func (m *merger) insert(r *mergedRun) error {
	if r.mainID != 0 {
		// An id reserved for it (see reserveIDs).
		if _, err := m.tx.Exec(`INSERT INTO main.runs (id, `+runColumns+`) SELECT ?, `+runColumns+` FROM shard.runs WHERE id = ?`, r.mainID, r.id); err != nil {
			return err
		}
		return m.copyChildren(r)
	}
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

// copyChildren copies a run's rows of every per-run table, and its artifact rows, to r.mainID.
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
	return m.recordArtifacts(r)
}
