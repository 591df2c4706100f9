package results

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// copyArtifacts records the run's artifacts under its new id and, unless they are linked,
// stages a copy of its artifact folder.
func (m *merger) copyArtifacts(r *mergedRun) error {
	srcDir := filepath.Join(m.shardRoot, strconv.FormatInt(r.id, 10))
	dstDir := ""
	if !m.opt.LinkArtifacts {
		dstDir = filepath.Join(m.mainRoot, strconv.FormatInt(r.mainID, 10))
		if _, err := os.Stat(srcDir); err == nil {
			staged := fmt.Sprintf("%s.merging-%d", dstDir, os.Getpid())
			if err := os.RemoveAll(staged); err != nil {
				return err
			}
			if err := copyTree(srcDir, staged); err != nil {
				os.RemoveAll(staged)
				return fmt.Errorf("copying artifacts of run %d: %w", r.id, err)
			}
			m.staged = append(m.staged, staged)
			m.final = append(m.final, dstDir)
		}
	}
	rows, err := m.tx.Query(`SELECT name, path, blob FROM shard.artifacts WHERE run_id = ?`, r.id)
	if err != nil {
		return err
	}
	type artifact struct {
		name, path string
		blob       []byte
	}
	var arts []artifact
	for rows.Next() {
		var a artifact
		if err := rows.Scan(&a.name, &a.path, &a.blob); err != nil {
			rows.Close()
			return err
		}
		arts = append(arts, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, a := range arts {
		p := a.path
		if p != "" {
			src := a.path
			if !filepath.IsAbs(src) {
				src = filepath.Join(filepath.Dir(m.shard), src)
			}
			p = src
			if rel, err := filepath.Rel(srcDir, src); err == nil && dstDir != "" && !strings.HasPrefix(rel, "..") {
				p = m.store.relPath(filepath.Join(dstDir, rel))
			}
		}
		if _, err := m.tx.Exec(`INSERT INTO main.artifacts (run_id, name, path, blob) VALUES (?, ?, ?, ?)`, r.mainID, a.name, p, a.blob); err != nil {
			return err
		}
	}
	return nil
}

// place moves the staged artifact folders to their final names, moving any folder already
// there aside; unplace undoes it when the commit fails.
func (m *merger) place() error {
	m.old = make([]string, len(m.final))
	for i := range m.staged {
		if _, err := os.Stat(m.final[i]); err == nil {
			m.old[i] = m.final[i] + ".replaced"
			os.RemoveAll(m.old[i])
			if err := os.Rename(m.final[i], m.old[i]); err != nil {
				m.unplace()
				return err
			}
		}
		if err := os.Rename(m.staged[i], m.final[i]); err != nil {
			if m.old[i] != "" {
				os.Rename(m.old[i], m.final[i])
			}
			m.unplace()
			return err
		}
		m.placed = i + 1
	}
	return nil
}

func (m *merger) unplace() {
	for i := m.placed - 1; i >= 0; i-- {
		os.Rename(m.final[i], m.staged[i])
		if m.old[i] != "" {
			os.Rename(m.old[i], m.final[i])
		}
	}
	m.placed = 0
}

// cleanup removes what a merge leaves beside the artifact folders: the staged copies when
// it failed, the replaced folders when it succeeded.
func (m *merger) cleanup() {
	if !m.committed {
		for _, d := range m.staged {
			os.RemoveAll(d)
		}
		return
	}
	for _, d := range m.old {
		if d != "" {
			os.RemoveAll(d)
		}
	}
}

// copyTree copies the regular files and folders under src to dst (which must not exist).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
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
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// artifactRootOf is ArtifactRoot for a database path.
func artifactRootOf(path string) string { return (&Store{Path: path}).ArtifactRoot() }
