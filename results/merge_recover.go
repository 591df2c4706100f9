package results

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// legacyStaging matches the staging folders of older runners ("<id>.merging-<pid>"), which
// were never moved into place before they were renamed to their final name.
var legacyStaging = regexp.MustCompile(`^[0-9]+\.merging-([0-9]+)$`)

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
	if owner, err := readMarker(root); err != nil || owner != id {
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
		b, err := ReadConfined(dir, stagingManifest, maxManifestBytes)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &pairs); err != nil {
				return "", fmt.Errorf("%s: %w", stagingManifest, err)
			}
		case !errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("%s: %w", stagingManifest, err)
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
