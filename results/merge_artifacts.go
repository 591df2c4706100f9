package results

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
)

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
			// Paths are stored relative to the folder of the database's real file (see
			// Store.relPath), not to that of a symlink the shard was named through.
			abs := path
			if !filepath.IsAbs(abs) {
				abs = filepath.Join(filepath.Dir(m.shardReal), abs)
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
	return atomicfile.Copy(ctx, src, dst, 0o644)
}

// artifactRootOf is ArtifactRoot for a database path.
func artifactRootOf(path string) string { return (&Store{Path: path}).ArtifactRoot() }
