package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

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

// planRuns decides, reading only, what the merge does with each of the shard's runs: which
// are new, which replace an older record, which are skipped (counted in res), and where
// every artifact of theirs lies. The runs to import are left in m.plan.
func (m *merger) planRuns(ctx context.Context, runs []*mergedRun, res *MergeResult) error {
	for _, r := range runs {
		if r.status == StatusRunning {
			res.Skipped = append(res.Skipped, fmt.Sprintf("run %d is still running (if its process is gone, any writing command on the shard records that)", r.id))
			continue
		}
		if err := m.inspect(ctx, r); err != nil {
			return err
		}
		if err := m.lookup(ctx, m.conn, r); err != nil {
			return err
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
				return err
			}
			if why != "" {
				res.Skipped = append(res.Skipped, why)
				continue
			}
		}
		m.plan = append(m.plan, r)
	}
	return nil
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
