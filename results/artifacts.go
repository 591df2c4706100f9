package results

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// markerFile, inside an artifact folder, holds the id of the database the folder belongs to.
const markerFile = ".ddpm-database"

// ArtifactRoot is the folder of this database's per-run artifacts (runs/<id>/ below it). It
// sits beside the database and is named after it without its extension, so results/runs.db
// keeps results/runs/ and a.db and b.db in one folder get a/ and b/; a name without an
// extension gets NAME.runs/.
func (s *Store) ArtifactRoot() string {
	dir, base := filepath.Split(s.Path)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	if stem == base || stem == "" {
		stem = base + ".runs"
	}
	return filepath.Join(dir, stem)
}

// DatabaseID is the random id the database was given when it was created.
func (s *Store) DatabaseID() (string, error) {
	var id string
	err := s.DB.QueryRow(`SELECT value FROM meta WHERE key = 'database_id'`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("results: %s has no database id", s.Path)
	}
	return id, err
}

// ClaimArtifactRoot makes sure the artifact folder belongs to this database and returns it:
// a new folder is created and marked with the database's id, an unmarked one (made by an
// older runner) is marked, and a folder marked by another database is refused, since its
// checkpoints would be taken for this database's.
func (s *Store) ClaimArtifactRoot() (string, error) {
	root := s.ArtifactRoot()
	id, err := s.DatabaseID()
	if err != nil {
		return "", err
	}
	marker := filepath.Join(root, markerFile)
	b, err := os.ReadFile(marker)
	switch {
	case err == nil:
		if owner := strings.TrimSpace(string(b)); owner != id {
			return "", fmt.Errorf("results: artifact folder %s belongs to another database (id %s, this one is %s); "+
				"move that folder away or give this database another name", root, owner, id)
		}
		return root, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("results: %w", err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("results: artifact folder: %w", err)
	}
	tmp := marker + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("results: artifact folder: %w", err)
	}
	if err := os.Rename(tmp, marker); err != nil {
		return "", fmt.Errorf("results: artifact folder: %w", err)
	}
	return root, nil
}

// relPath is how an artifact path is stored: relative to the database's folder, so that the
// database and its artifacts can be read from any working directory, or moved together.
func (s *Store) relPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	base, err := filepath.Abs(filepath.Dir(s.Path))
	if err != nil {
		return abs
	}
	rel, err := filepath.Rel(base, abs)
	if err != nil {
		return abs
	}
	return rel
}

// resolvePath turns a stored artifact path back into one usable from here. Paths stored by
// older runners were relative to the working directory of the run; they are used as they are
// when the database-relative reading does not exist.
func (s *Store) resolvePath(stored string) string {
	if stored == "" || filepath.IsAbs(stored) {
		return stored
	}
	p := filepath.Join(filepath.Dir(s.Path), stored)
	if _, err := os.Stat(p); err != nil {
		if _, err2 := os.Stat(stored); err2 == nil {
			return stored
		}
	}
	return p
}
