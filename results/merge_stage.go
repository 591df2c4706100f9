package results

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
)

// A merge copies each run's artifact folder into a staging folder in the database's artifact
// folder, named stagingPrefix + PID + "-" + a random suffix, on which it holds an exclusive
// flock (stagingLockFile) while it lives. Each run's copy is "<shard run id>.new" there.
// Before taking the write lock it writes the moves it will make (stagingManifest): each copy
// to its run's folder, an older folder of a replaced run moved aside to "<id>.old" in the
// staging folder first. The transaction that writes the rows also writes the journal row
// journalKey(staging) into meta, so that whoever finds the staging folder of a merge that
// died (its flock free) knows from that row whether the merge committed: if it did, the
// moves were all made and only the staging folder is left to remove; if not, the moves made
// are undone from the manifest. RecoverMerges does that.
const (
	stagingPrefix   = ".merging-"
	stagingLockFile = ".lock"
	stagingManifest = "manifest.json"
	// maxManifestBytes bounds what recovery reads of a manifest: one pair of run ids for
	// each of at most maxShardRuns runs, with room to spare.
	maxManifestBytes = 64 << 20
)

// stagedPair is one move of a merge: the staged copy <Name>.new in the staging folder to the
// run folder <Final> in the artifact folder.
type stagedPair struct {
	Name  string `json:"name"`
	Final string `json:"final"`
}

// journalKey is the meta key that records that the merge staged in the folder committed.
func journalKey(staging string) string { return "merge:" + filepath.Base(staging) }

// Test hooks: testHookCopy is called before each file is copied, testHookStep at the steps
// of placing ("renamed" after each rename, "committed", "cleaned" after the staging folder
// is removed).
var (
	testHookCopy func(src string)
	testHookStep func(step string)
)

func testStep(step string) {
	if testHookStep != nil {
		testHookStep(step)
	}
}

// prepare stages the planned runs' folders, holding no lock of the database, then gives the
// new runs their ids and records in the staging folder the moves that place will make, so
// that RecoverMerges can undo what a merge killed from here on has moved.
func (m *merger) prepare(ctx context.Context) error {
	if err := m.stage(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.reserveIDs(); err != nil {
		return err
	}
	return m.writeManifest()
}

// stage copies the planned runs' folders into a new staging folder. No lock of the database
// is held meanwhile: a copy of gigabytes, or over a slow disk, blocks no one.
func (m *merger) stage(ctx context.Context) error {
	for _, r := range m.plan {
		if r.src == "" {
			continue
		}
		if m.staging == "" {
			if err := m.makeStaging(); err != nil {
				return err
			}
		}
		r.staged = filepath.Join(m.staging, strconv.FormatInt(r.id, 10)+".new")
		if err := copyTree(ctx, r.src, r.staged); err != nil {
			return fmt.Errorf("copying the artifacts of run %d: %w", r.id, err)
		}
		if r.found {
			// The copy takes the place of a folder whose lock is held; its own lock is held too,
			// so that a resume that starts after it is moved into place waits for the commit.
			f, err := LockRunFolder(r.staged)
			if err != nil {
				return err
			}
			m.locks = append(m.locks, f)
		}
	}
	return nil
}

// makeStaging creates the staging folder and takes its lock.
func (m *merger) makeStaging() error {
	dir, err := os.MkdirTemp(m.mainRoot, stagingPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return err
	}
	m.staging = dir
	if m.stagingLock, err = tryLock(filepath.Join(dir, stagingLockFile)); err != nil {
		return err
	}
	return nil
}

// reserveIDs gives each new run its id in a short transaction of its own, before the copies
// are moved into place: a merge that dies between its moves and its commit leaves folders
// under ids that no run can be given afterwards (a rolled-back insert's id would be given to
// the next run, which would then find that folder as its own), until RecoverMerges removes
// them. A merge that fails after this leaves a gap in the run ids.
func (m *merger) reserveIDs() error {
	var fresh []*mergedRun
	for _, r := range m.plan {
		if !r.found {
			fresh = append(fresh, r)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	tx, err := m.conn.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var seq, maxID int64
	var haveSeq bool
	err = tx.QueryRow(`SELECT seq FROM main.sqlite_sequence WHERE name = 'runs'`).Scan(&seq)
	switch {
	case err == nil:
		haveSeq = true
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if err := tx.QueryRow(`SELECT COALESCE(MAX(id), 0) FROM main.runs`).Scan(&maxID); err != nil {
		return err
	}
	next := max(seq, maxID)
	for _, r := range fresh {
		next++
		r.mainID = next
	}
	if haveSeq {
		_, err = tx.Exec(`UPDATE main.sqlite_sequence SET seq = ? WHERE name = 'runs'`, next)
	} else {
		_, err = tx.Exec(`INSERT INTO main.sqlite_sequence (name, seq) VALUES ('runs', ?)`, next)
	}
	if err != nil {
		return err
	}
	return tx.Commit()
}

// writeManifest records in the staging folder the moves that place will make.
func (m *merger) writeManifest() error {
	for _, r := range m.plan {
		if r.staged != "" {
			m.pairs = append(m.pairs, stagedPair{Name: strconv.FormatInt(r.id, 10), Final: strconv.FormatInt(r.mainID, 10)})
		}
	}
	if m.staging == "" {
		return nil
	}
	b, err := json.Marshal(m.pairs)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(m.staging, stagingManifest), b, 0o644)
}

// place moves the staged copies to their run folders, moving a folder already there (an
// older copy of a replaced run) aside into the staging folder; unplace undoes it when the
// commit fails.
func (m *merger) place() error {
	for i, p := range m.pairs {
		final := filepath.Join(m.mainRoot, p.Final)
		if _, err := os.Lstat(final); err == nil {
			if err := os.Rename(final, filepath.Join(m.staging, p.Name+".old")); err != nil {
				m.unplace()
				return err
			}
			testStep("renamed")
		}
		m.placed = i + 1
		if err := os.Rename(filepath.Join(m.staging, p.Name+".new"), final); err != nil {
			m.unplace()
			return err
		}
		testStep("renamed")
	}
	return nil
}

func (m *merger) unplace() {
	undoPairs(m.mainRoot, m.staging, m.pairs[:m.placed])
	m.placed = 0
}

// undoPairs undoes the moves of a merge that did not commit, last first: a copy that was
// moved into place goes back to the staging folder, and the folder it replaced comes back.
func undoPairs(root, staging string, pairs []stagedPair) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for i := len(pairs) - 1; i >= 0; i-- {
		p := pairs[i]
		final := filepath.Join(root, p.Final)
		staged := filepath.Join(staging, p.Name+".new")
		old := filepath.Join(staging, p.Name+".old")
		if !exists(staged) && exists(final) {
			keep(os.Rename(final, staged))
		}
		if exists(old) {
			keep(os.Rename(old, final))
		}
	}
	return first
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// finish, after the commit, removes the staging folder (now holding the replaced folders)
// and then the journal row, and releases the locks.
func (m *merger) finish() {
	if m.staging != "" {
		if err := os.RemoveAll(m.staging); err == nil {
			testStep("cleaned")
			// Left behind if this fails: RecoverMerges removes a row whose folder is gone.
			m.conn.ExecContext(context.Background(), `DELETE FROM main.meta WHERE key = ?`, journalKey(m.staging))
		}
	}
	m.release()
}

// cleanup removes what a merge that did not commit staged, and releases its locks.
func (m *merger) cleanup() {
	if !m.committed && m.staging != "" {
		os.RemoveAll(m.staging)
	}
	m.release()
}

func (m *merger) release() {
	for _, f := range m.locks {
		f.Close()
	}
	m.locks = nil
	if m.stagingLock != nil {
		m.stagingLock.Close()
		m.stagingLock = nil
	}
}
