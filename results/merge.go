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
	// The shard's artifact folder and its stored artifact paths are the real file's (see
	// ArtifactRoot), whatever symlink the shard was named through.
	shardReal := resolveDBPath(shardAbs)
	m := &merger{conn: conn, store: s, opt: opt, shard: shardAbs, shardReal: shardReal, shardRoot: artifactRootOf(shardReal)}
	defer m.cleanup()
	if !opt.LinkArtifacts {
		if m.mainRoot, err = s.ClaimArtifactRoot(); err != nil {
			return fail(err)
		}
		// What a merge killed half-way left is put right first (the CLI does this at every
		// writing open; a caller of the library gets it here). It does not affect this merge.
		_, _ = s.RecoverMerges()
	}

	if err := m.planRuns(ctx, runs, &res); err != nil {
		return fail(err)
	}
	if len(m.plan) == 0 {
		return res, nil
	}

	phase(PhaseMergeCopying)
	if !opt.LinkArtifacts {
		if err := m.prepare(ctx); err != nil {
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
	if err := m.writeRows(&res); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}

	phase(PhaseMergeRenaming)
	if err := m.placeAndCommit(); err != nil {
		return fail(err)
	}
	phase(PhaseMergeCleaning)
	m.finish()
	return res, nil
}

// merger holds one shard's merge from its plan to its commit.
type merger struct {
	conn      *sql.Conn
	tx        *sql.Tx
	store     *Store
	opt       MergeOptions
	shard     string // absolute path, as it was named
	shardReal string // shard with every symlink followed
	shardRoot string
	mainRoot  string // "" when artifacts are linked
	plan      []*mergedRun
	// locks are the held run locks of the runs to be replaced (and of their staged copies),
	// so that no resume starts on them until the merge has ended.
	locks []*os.File
	// staging is the folder the run folders are copied into (see merge_stage.go), with
	// stagingLock held on it; pairs are its moves into place, placed how many are done.
	staging     string
	stagingLock *os.File
	pairs       []stagedPair
	placed      int
	committed   bool
}

// writeRows writes the planned runs' rows in the merge's transaction, each after checking
// again that no other process has written its uid since the plan, and, when folders are to
// be moved, the journal row that tells RecoverMerges that this merge committed.
func (m *merger) writeRows(res *MergeResult) error {
	for _, r := range m.plan {
		if err := m.recheck(r); err != nil {
			return err
		}
		var err error
		if r.found {
			err = m.replace(r)
			res.Updated++
		} else {
			err = m.insert(r)
			res.Added++
		}
		if err != nil {
			return err
		}
		res.IDs[r.id] = r.mainID
	}
	if m.staging != "" {
		if _, err := m.tx.Exec(`INSERT INTO main.meta (key, value) VALUES (?, ?)`, journalKey(m.staging), m.shard); err != nil {
			return err
		}
	}
	return nil
}

// placeAndCommit moves the staged folders into place and commits the transaction; if the
// commit fails, the moves are undone, so that the database and its folders agree either way.
func (m *merger) placeAndCommit() error {
	if err := m.place(); err != nil {
		return err
	}
	if err := m.tx.Commit(); err != nil {
		m.unplace()
		return err
	}
	m.committed = true
	testStep("committed")
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
