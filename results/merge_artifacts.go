package results

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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
)

// stagedPair is one move of a merge: the staged copy <Name>.new in the staging folder to the
// run folder <Final> in the artifact folder.
type stagedPair struct {
	Name  string `json:"name"`
	Final string `json:"final"`
}

// legacyStaging matches the staging folders of older runners ("<id>.merging-<pid>"), which
// were never moved into place before they were renamed to their final name.
var legacyStaging = regexp.MustCompile(`^[0-9]+\.merging-([0-9]+)$`)

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

// inspect finds the run's artifact folder in the shard and resolves every artifact path of
// the run inside it. A run folder that is a symlink or not a folder, or an artifact that
// leads out of its run's folder (an absolute path, "..", a symlink), is refused: following
// it would copy, or link, whatever file its writer chose.
func (m *merger) inspect(ctx context.Context, r *mergedRun) error {
	dir := filepath.Join(m.shardRoot, strconv.FormatInt(r.id, 10))
	st, err := os.Lstat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("run %d: %w", r.id, err)
	case st.Mode()&os.ModeSymlink != 0:
		if _, err := Confine(m.shardRoot, dir); err != nil {
			return fmt.Errorf("run %d: its artifact folder: %w", r.id, err)
		}
		return fmt.Errorf("run %d: its artifact folder %s is a symlink; a run's folder must be a folder of its own", r.id, dir)
	case !st.IsDir():
		return fmt.Errorf("run %d: its artifact folder %s is not a folder (%s)", r.id, dir, st.Mode().Type())
	default:
		if r.src, err = Confine(m.shardRoot, dir); err != nil {
			return fmt.Errorf("run %d: its artifact folder: %w", r.id, err)
		}
	}
	realDir, err := resolveExisting(dir)
	if err != nil {
		return fmt.Errorf("run %d: %w", r.id, err)
	}
	rows, err := m.conn.QueryContext(ctx, `SELECT COALESCE(name, ''), COALESCE(path, '') FROM shard.artifacts WHERE run_id = ? LIMIT ?`, r.id, maxRunArtifacts+1)
	if err != nil {
		return sqliteProblem(err)
	}
	defer rows.Close()
	for rows.Next() {
		if len(r.arts) == maxRunArtifacts {
			return fmt.Errorf("run %d has more than %d artifacts", r.id, maxRunArtifacts)
		}
		var name, path string
		if err := rows.Scan(&name, &path); err != nil {
			return sqliteProblem(err)
		}
		a := mergedArtifact{name: name}
		if path != "" {
			// Paths are stored relative to the database's folder.
			abs := path
			if !filepath.IsAbs(abs) {
				abs = filepath.Join(filepath.Dir(m.shard), abs)
			}
			a.real, err = Confine(dir, abs)
			if err != nil && m.opt.LinkArtifacts && errors.Is(err, ErrOutside) {
				// A linked view (a report over several databases) keeps the row as its writer
				// left it: the reader confines every path to the run's own folder and leaves
				// this one out with a warning, instead of the whole database being refused.
				a.real = abs
				r.arts = append(r.arts, a)
				continue
			}
			if err != nil {
				return fmt.Errorf("run %d: artifact %q: %w (a run's artifacts must be inside its own folder)", r.id, name, err)
			}
			if a.rel, err = filepath.Rel(realDir, a.real); err != nil {
				return fmt.Errorf("run %d: artifact %q: %w", r.id, name, err)
			}
		}
		r.arts = append(r.arts, a)
	}
	if err := rows.Err(); err != nil {
		return sqliteProblem(err)
	}
	return nil
}

// recordArtifacts writes the run's artifact rows under r.mainID: a path inside the run's
// folder is mapped to the same place in this database's copy of the folder, or, when
// artifacts are linked, to the resolved file in the shard's folder.
func (m *merger) recordArtifacts(r *mergedRun) error {
	dst := ""
	if !m.opt.LinkArtifacts {
		dst = filepath.Join(m.mainRoot, strconv.FormatInt(r.mainID, 10))
	}
	for _, a := range r.arts {
		p := ""
		switch {
		case a.real == "":
		case m.opt.LinkArtifacts:
			p = a.real
		default:
			p = m.store.relPath(filepath.Join(dst, a.rel))
		}
		if _, err := m.tx.Exec(`INSERT INTO main.artifacts (run_id, name, path, blob) SELECT ?, name, ?, blob FROM shard.artifacts WHERE run_id = ? AND name = ?`,
			r.mainID, p, r.id, a.name); err != nil {
			return err
		}
	}
	return nil
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
	tmp := filepath.Join(m.staging, stagingManifest+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(m.staging, stagingManifest))
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

// RecoverMerges puts right what merges that died half-way (killed, or the machine lost) left
// in the artifact folder, and returns a note for each: a merge that committed has its staging
// folder removed; one that did not has the folders it moved into place moved back (the runs
// it replaced get their folders back, the folders of runs it was adding are removed) and then
// its staging folder removed. A staging folder whose merge is alive (its lock held) is left
// alone, as is one whose moves cannot be undone because a run they touch is live. The
// staging folders of older runners ("<id>.merging-<pid>", whose pid is gone) are removed.
//
// Only a folder marked as this database's is touched: the journal rows that tell a committed
// merge from one that did not commit are this database's, so another database's staging
// folders (in a folder this one would be refused) cannot be judged from them.
func (s *Store) RecoverMerges() ([]string, error) {
	root := s.ArtifactRoot()
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	id, err := s.DatabaseID()
	if err != nil {
		return nil, err
	}
	if owner, err := os.ReadFile(filepath.Join(root, markerFile)); err != nil || strings.TrimSpace(string(owner)) != id {
		return nil, nil
	}
	var notes []string
	var first error
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, stagingPrefix):
			note, err := s.recoverStaging(root, name)
			if err != nil && first == nil {
				first = fmt.Errorf("results: recovering %s: %w", filepath.Join(root, name), err)
			}
			if note != "" {
				notes = append(notes, note)
			}
		case legacyStaging.MatchString(name):
			pid, _ := strconv.Atoi(legacyStaging.FindStringSubmatch(name)[1])
			if processAlive(pid) {
				continue
			}
			if err := os.RemoveAll(filepath.Join(root, name)); err != nil && first == nil {
				first = fmt.Errorf("results: %w", err)
			}
			notes = append(notes, fmt.Sprintf("removed %s, left by a merge (pid %d) that did not finish", filepath.Join(root, name), pid))
		}
	}
	if err := s.dropOrphanJournals(root); err != nil && first == nil {
		first = err
	}
	return notes, first
}

// recoverStaging finishes or undoes the merge staged in root/name if its process is gone.
func (s *Store) recoverStaging(root, name string) (string, error) {
	dir := filepath.Join(root, name)
	lockPath := filepath.Join(dir, stagingLockFile)
	if !exists(lockPath) {
		// A merge creates its lock a moment after its folder: until then its pid tells.
		pid, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, stagingPrefix), "-", 2)[0])
		if processAlive(pid) {
			return "", nil
		}
	}
	lock, err := tryLock(lockPath)
	if errors.Is(err, ErrLocked) {
		return "", nil // a live merge
	}
	if err != nil {
		return "", err
	}
	defer lock.Close()
	// Under the write lock, no merge commits meanwhile: the journal row says for good whether
	// the dead one did.
	tx, err := s.DB.Begin()
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	var shard string
	err = tx.QueryRow(`SELECT value FROM meta WHERE key = ?`, journalKey(dir)).Scan(&shard)
	committed := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	note := fmt.Sprintf("removed %s, left by a merge that committed (of %s) but had not cleaned up", dir, shard)
	if !committed {
		var pairs []stagedPair
		if b, err := os.ReadFile(filepath.Join(dir, stagingManifest)); err == nil {
			if err := json.Unmarshal(b, &pairs); err != nil {
				return "", fmt.Errorf("%s: %w", stagingManifest, err)
			}
		}
		for _, p := range pairs {
			if held, err := liveFolder(filepath.Join(root, p.Final)); err != nil || held {
				return fmt.Sprintf("left %s: run folder %s is in use by a live process", dir, p.Final), err
			}
		}
		if err := undoPairs(root, dir, pairs); err != nil {
			return "", err
		}
		note = fmt.Sprintf("undid and removed %s, left by a merge that did not commit", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if _, err := tx.Exec(`DELETE FROM meta WHERE key = ?`, journalKey(dir)); err != nil {
		return "", err
	}
	return note, tx.Commit()
}

// liveFolder reports whether a run folder's lock is held by a live process.
func liveFolder(dir string) (bool, error) {
	if !exists(filepath.Join(dir, RunLockFile)) {
		return false, nil
	}
	f, err := LockRunFolder(dir)
	if errors.Is(err, ErrLocked) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	f.Close()
	return false, nil
}

// dropOrphanJournals deletes the journal rows whose staging folder is gone (a merge that
// died after removing it).
func (s *Store) dropOrphanJournals(root string) error {
	rows, err := s.DB.Query(`SELECT key FROM meta WHERE key LIKE 'merge:%'`)
	if err != nil {
		return err
	}
	var gone []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return err
		}
		if !exists(filepath.Join(root, strings.TrimPrefix(k, "merge:"))) {
			gone = append(gone, k)
		}
	}
	rows.Close()
	for _, k := range gone {
		if _, err := s.DB.Exec(`DELETE FROM meta WHERE key = ?`, k); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies the regular files and folders under src to dst (which must not exist);
// symlinks and special files are not followed or copied.
func copyTree(ctx context.Context, src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(ctx, path, target)
	})
}

func copyFile(ctx context.Context, src, dst string) error {
	if testHookCopy != nil {
		testHookCopy(src)
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, ctxReader{ctx, in}); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ctxReader stops a copy when its context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// artifactRootOf is ArtifactRoot for a database path.
func artifactRootOf(path string) string { return (&Store{Path: path}).ArtifactRoot() }
