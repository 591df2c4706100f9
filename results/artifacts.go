package results

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
)

// The names of the artifacts the engine records for a run and the report reads: one
// declaration for both sides, and never renamed (databases already hold them).
const (
	// BoundArtifact is the per-timestep bound of a run's final evaluation: a CSV with t, L_t
	// in nats per dimension and in bits per dimension (L_0 is the decoder term; the prior term
	// L_T is not a row).
	BoundArtifact = "bound_per_t.csv"
	// BoundExamplesArtifact is each held-out example's bound in a run's final evaluation: a
	// CSV with the example's index and its bound in nats per dimension. The held-out examples
	// are the same for every run on the same data, so two runs' rows pair up by index.
	BoundExamplesArtifact = "bound_per_example.csv"
	// SamplesCSVArtifact holds the samples of low-dimensional data (a column per dimension).
	SamplesCSVArtifact = "samples.csv"
	// SamplesNPZArtifact holds the samples of image data as improved-diffusion's
	// image_sample.py writes them: an .npz whose arr_0 is uint8 [N, H, W, C].
	SamplesNPZArtifact = "samples.npz"
	// SampleGridArtifact is a PNG grid of sample images (image data).
	SampleGridArtifact = "samples_grid.png"
	// SampleScatterArtifact is a PNG scatter of samples over held-out data (2-D data).
	SampleScatterArtifact = "samples.png"
)

// markerFile, inside an artifact folder, holds the id of the database the folder belongs to.
const markerFile = ".ddpm-database"

// ArtifactRoot is the folder of this database's per-run artifacts (runs/<id>/ below it). It
// sits beside the database and is named after it without its extension, so results/runs.db
// keeps results/runs/ and a.db and b.db in one folder get a/ and b/; a name without an
// extension gets NAME.runs/. A database reached through a symlink keeps its folder beside
// the file the symlink leads to, so that every path to one database finds the same folder.
func (s *Store) ArtifactRoot() string {
	dir, base := filepath.Split(s.realPath())
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

// maxMarkerBytes bounds what is read of an artifact folder's marker: a database id.
const maxMarkerBytes = 4096

// readMarker returns the id of the database an artifact folder is marked as belonging to.
// The marker is read only as a small regular file inside the folder: a symlink or a FIFO
// planted in its place is refused, not followed or waited on.
func readMarker(root string) (string, error) {
	b, err := ReadConfined(root, markerFile, maxMarkerBytes)
	return strings.TrimSpace(string(b)), err
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
	owner, err := readMarker(root)
	switch {
	case err == nil:
		if owner != id {
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
	if err := atomicfile.Write(marker, []byte(id+"\n"), 0o644); err != nil {
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
	base, err := filepath.Abs(filepath.Dir(s.realPath()))
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
	p := filepath.Join(filepath.Dir(s.realPath()), stored)
	if _, err := os.Stat(p); err != nil {
		if _, err2 := os.Stat(stored); err2 == nil {
			return stored
		}
	}
	return p
}

// ErrNoArtifact is wrapped by ReadArtifact's error for a run that recorded no artifact of
// that name.
var ErrNoArtifact = errors.New("no such artifact recorded")

// ArtifactError is ReadArtifact's error: the run and artifact it is about, and why.
type ArtifactError struct {
	Run  int64
	Name string
	Err  error
}

func (e *ArtifactError) Error() string {
	return fmt.Sprintf("run %d: artifact %q: %v", e.Run, e.Name, e.Err)
}

func (e *ArtifactError) Unwrap() error { return e.Err }

// RunDir is the folder that one run's artifacts must be in: runs/<id>/ in ArtifactRoot, or,
// in a database built by merging others with linked artifacts (see UseLinkedRunDirs), the
// run's folder in the database it came from.
func (s *Store) RunDir(id int64) (string, error) {
	_, dir, err := s.runDir(id)
	return dir, err
}

// runDir is RunDir and the artifact folder that the run's folder belongs in (this
// database's, or, for a linked run, that of the database it came from).
func (s *Store) runDir(id int64) (root, dir string, err error) {
	if !s.linked {
		root = s.ArtifactRoot()
		return root, filepath.Join(root, strconv.FormatInt(id, 10)), nil
	}
	env := map[string]string{}
	if err := s.fillStrings("env", id, env); err != nil {
		return "", "", err
	}
	from, shardRun := env["merged_from"], env["merged_shard_run"]
	n, err := strconv.ParseInt(shardRun, 10, 64)
	if from == "" || err != nil || n <= 0 {
		return "", "", fmt.Errorf("results: run %d does not say which database and run it was merged from (merged_from %q, merged_shard_run %q)", id, from, shardRun)
	}
	root = (&Store{Path: from}).ArtifactRoot()
	return root, filepath.Join(root, strconv.FormatInt(n, 10)), nil
}

// UseLinkedRunDirs tells s that every run in it was merged in by this process with
// MergeOptions.LinkArtifacts, so RunDir is each run's folder in the database it came from,
// as its merged_from and merged_shard_run provenance (which Merge itself writes) say. Only
// a scratch database that this process built that way may be told so: the provenance of any
// other database is whatever its writers put there.
func (s *Store) UseLinkedRunDirs() { s.linked = true }

// ReadArtifact reads a run's artifact, at most maxBytes of it. The file must be a regular
// file inside the run's folder (RunDir) once every symlink is followed, and the run's folder
// must itself be inside its artifact folder once every symlink is followed: an artifact row
// is data anyone who can write the database can edit, and a run's folder a name anyone who
// can write the artifact folder can replace with a symlink; neither must make a report read
// /etc/passwd, /dev/zero or a FIFO. The error is an *ArtifactError; it wraps ErrNoArtifact for
// an artifact never recorded, and ErrOutside for a path that leaves the run's folder.
func (s *Store) ReadArtifact(id int64, name string, maxBytes int64) ([]byte, error) {
	b, err := s.readArtifact(id, name, maxBytes)
	if err != nil {
		return nil, &ArtifactError{Run: id, Name: name, Err: err}
	}
	return b, nil
}

func (s *Store) readArtifact(id int64, name string, maxBytes int64) ([]byte, error) {
	dir, path, err := s.artifactPath(id, name)
	if err != nil {
		return nil, err
	}
	return ReadConfined(dir, path, maxBytes)
}

// OpenArtifact opens a run's artifact for reading, as ReadArtifact reads it (a regular file
// inside the run's folder, at most maxBytes long), for a reader that needs only part of a
// large file. The error is an *ArtifactError, as ReadArtifact's.
func (s *Store) OpenArtifact(id int64, name string, maxBytes int64) (*os.File, error) {
	dir, path, err := s.artifactPath(id, name)
	if err == nil {
		var f *os.File
		if f, err = OpenConfined(dir, path, maxBytes); err == nil {
			return f, nil
		}
	}
	return nil, &ArtifactError{Run: id, Name: name, Err: err}
}

// artifactPath is the run's folder, resolved and confined to its artifact folder, and the
// recorded path of its artifact name, made absolute; the path itself is confined by the
// caller, at the moment it opens it.
func (s *Store) artifactPath(id int64, name string) (dir, path string, err error) {
	var stored sql.NullString
	err = s.DB.QueryRow("SELECT path FROM artifacts WHERE run_id = ? AND name = ?", id, name).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && stored.String == "") {
		return "", "", ErrNoArtifact
	}
	if err != nil {
		return "", "", err
	}
	root, dir, err := s.runDir(id)
	if err != nil {
		return "", "", err
	}
	// dir is root joined with the run's folder; Confine would join a relative dir to root
	// once more (a database given as a relative path has a relative root).
	if dir, err = filepath.Abs(dir); err != nil {
		return "", "", err
	}
	if dir, err = Confine(root, dir); err != nil {
		return "", "", fmt.Errorf("the run's folder: %w", err)
	}
	path, err = filepath.Abs(s.resolvePath(stored.String))
	return dir, path, err
}
