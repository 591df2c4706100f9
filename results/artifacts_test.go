package results

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// storeWithArtifact opens a database at path with one run whose artifact "a" is the file
// a.txt in its own folder, holding "mine".
func storeWithArtifact(t *testing.T, path string) (*Store, int64) {
	t.Helper()
	s, err := Open(path)
	must(t, err)
	t.Cleanup(func() { s.Close() })
	root, err := s.ClaimArtifactRoot()
	must(t, err)
	id, err := s.CreateRun(newRun("a", 0))
	must(t, err)
	dir := filepath.Join(root, strconv.FormatInt(id, 10))
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("mine"), 0o644))
	must(t, s.AddArtifact(id, "a", filepath.Join(dir, "a.txt")))
	must(t, s.EndRun(id, StatusFinished, ""))
	return s, id
}

// TestReadArtifactStaysInTheRunsFolder: an artifact row or a file in the run's folder can
// point anywhere; ReadArtifact reads only bounded regular files inside the run's folder.
func TestReadArtifactStaysInTheRunsFolder(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper func(t *testing.T, s *Store, dir, runDir string)
		want   string // "" for the run's own file
	}{
		{"own file", func(*testing.T, *Store, string, string) {}, ""},
		{"absolute path outside", func(t *testing.T, s *Store, dir, _ string) {
			setPath(t, s, filepath.Join(dir, "secret"))
		}, "outside"},
		{"relative path outside", func(t *testing.T, s *Store, _, _ string) { setPath(t, s, "secret") }, "outside"},
		{"dot-dots", func(t *testing.T, s *Store, _, _ string) { setPath(t, s, "runs/1/../../secret") }, "outside"},
		{"another run's folder", func(t *testing.T, s *Store, _, runDir string) {
			other := filepath.Join(filepath.Dir(runDir), "2")
			must(t, os.MkdirAll(other, 0o755))
			must(t, os.WriteFile(filepath.Join(other, "a.txt"), []byte("theirs"), 0o644))
			setPath(t, s, filepath.Join(other, "a.txt"))
		}, "outside"},
		{"symlink out", func(t *testing.T, _ *Store, dir, runDir string) {
			os.Remove(filepath.Join(runDir, "a.txt"))
			must(t, os.Symlink(filepath.Join(dir, "secret"), filepath.Join(runDir, "a.txt")))
		}, "outside"},
		{"/dev/zero", func(t *testing.T, s *Store, _, _ string) { setPath(t, s, "/dev/zero") }, "outside"},
		{"NUL in the path", func(t *testing.T, s *Store, _, _ string) { setPath(t, s, "runs/1/a.txt\x00x") }, "invalid argument"},
		{"FIFO", func(t *testing.T, _ *Store, _, runDir string) {
			os.Remove(filepath.Join(runDir, "a.txt"))
			must(t, syscall.Mkfifo(filepath.Join(runDir, "a.txt"), 0o644))
		}, "not a regular file"},
		{"folder", func(t *testing.T, _ *Store, _, runDir string) {
			os.Remove(filepath.Join(runDir, "a.txt"))
			must(t, os.Mkdir(filepath.Join(runDir, "a.txt"), 0o755))
		}, "not a regular file"},
		{"too large", func(t *testing.T, _ *Store, _, runDir string) {
			must(t, os.Truncate(filepath.Join(runDir, "a.txt"), 1000))
		}, "more than"},
		{"empty path", func(t *testing.T, s *Store, _, _ string) { setPath(t, s, "") }, ErrNoArtifact.Error()},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			must(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("secret"), 0o644))
			s, id := storeWithArtifact(t, filepath.Join(dir, "runs.db"))
			c.tamper(t, s, dir, filepath.Join(dir, "runs", strconv.FormatInt(id, 10)))
			b, err := s.ReadArtifact(id, "a", 100)
			if c.want == "" {
				if err != nil || string(b) != "mine" {
					t.Errorf("own file: %q %v", b, err)
				}
				return
			}
			var ae *ArtifactError
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &ae) || ae.Run != id || ae.Name != "a" {
				t.Errorf("read %q, error %v; want an *ArtifactError for run %d, a, saying %q", b, err, id, c.want)
			}
			if c.want == "outside" && !errors.Is(err, ErrOutside) {
				t.Errorf("%v does not wrap ErrOutside", err)
			}
		})
	}
}

func setPath(t *testing.T, s *Store, p string) {
	t.Helper()
	if _, err := s.DB.Exec(`UPDATE artifacts SET path = ?`, p); err != nil {
		t.Fatal(err)
	}
}

// TestReadArtifactOfLinkedRuns: a scratch database that merged a shard with linked
// artifacts reads each run's files from its folder in the shard once told so, and nothing
// outside that folder.
func TestReadArtifactOfLinkedRuns(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("secret"), 0o644))
	shardPath := filepath.Join(dir, "shard", "runs.db")
	shard, sid := storeWithArtifact(t, shardPath)
	shard.Close()
	scratch, err := Open(filepath.Join(dir, "scratch", "combined.db"))
	must(t, err)
	defer scratch.Close()
	res, err := scratch.Merge(shardPath, MergeOptions{LinkArtifacts: true})
	must(t, err)
	id := res.IDs[sid]
	if _, err := scratch.ReadArtifact(id, "a", 100); !errors.Is(err, ErrOutside) {
		t.Errorf("before UseLinkedRunDirs: %v, want ErrOutside (the scratch's own folder has no such run)", err)
	}
	scratch.UseLinkedRunDirs()
	if b, err := scratch.ReadArtifact(id, "a", 100); err != nil || string(b) != "mine" {
		t.Errorf("linked: %q %v", b, err)
	}
	setPath(t, scratch, filepath.Join(dir, "secret"))
	if _, err := scratch.ReadArtifact(id, "a", 100); !errors.Is(err, ErrOutside) {
		t.Errorf("a linked row pointing outside the shard's run folder: %v, want ErrOutside", err)
	}
}

// TestArtifactRootFollowsASymlinkedDatabase: a database opened through a symlink keeps its
// artifacts beside the file itself, so both paths find the same folder and the same files.
func TestArtifactRootFollowsASymlinkedDatabase(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "A"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "B"), 0o755))
	realDB, link := filepath.Join(dir, "B", "real.db"), filepath.Join(dir, "A", "link.db")
	s, err := Open(realDB)
	must(t, err)
	s.Close()
	must(t, os.Symlink(realDB, link))
	viaLink, id := storeWithArtifact(t, link)
	if got, want := viaLink.ArtifactRoot(), filepath.Join(dir, "B", "real"); got != want {
		t.Errorf("ArtifactRoot through the link = %s, want %s", got, want)
	}
	viaLink.Close()
	if _, err := os.Stat(filepath.Join(dir, "A", "link")); err == nil {
		t.Error("a folder was made beside the symlink")
	}
	direct, err := OpenReadOnly(realDB)
	must(t, err)
	defer direct.Close()
	if b, err := direct.ReadArtifact(id, "a", 100); err != nil || string(b) != "mine" {
		t.Errorf("the artifact recorded through the link, read through the real path: %q %v", b, err)
	}
}

// TestTextInANumberColumnIsNamed: a summary, timing or metric value that is text (a hand
// edit) is an error naming the database, run, table, key and value, its control characters
// escaped, rather than a driver's conversion error.
func TestTextInANumberColumnIsNamed(t *testing.T) {
	for _, c := range []struct{ table, set, want string }{
		{"summaries", `UPDATE summaries SET value = 'abc'`, `summaries "fid" holds "abc"`},
		{"summaries", `UPDATE summaries SET value = 'a' || char(27) || '[2J'`, `summaries "fid" holds "a\x1b[2J"`},
		{"summaries", `UPDATE summaries SET value = x'00ff'`, `summaries "fid" holds "\x00\xff"`},
		{"timings", `UPDATE timings SET seconds = 'slow'`, `timings "train" holds "slow"`},
		{"metrics", `UPDATE metrics SET value = 'nan?'`, `metrics "loss" holds "nan?"`},
	} {
		t.Run(c.set, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "runs.db")
			s, err := Open(path)
			must(t, err)
			defer s.Close()
			id, err := s.CreateRun(newRun("a", 0))
			must(t, err)
			must(t, s.SetSummaries(id, map[string]float64{"fid": 1}))
			must(t, s.SetTimings(id, map[string]float64{"train": 1}))
			w := s.Metrics(id, 1)
			must(t, w.Add("loss", 1, 0.5))
			must(t, w.Flush())
			_, err = s.DB.Exec(c.set)
			must(t, err)
			if c.table == "metrics" {
				_, err = s.History(id, "loss")
			} else {
				_, err = s.Runs(Filter{})
			}
			want := "run " + strconv.FormatInt(id, 10) + ": " + c.want
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want one naming %s and %s", err, path, want)
			}
		})
	}
	// Numbers stored as text by hand (SQLite keeps '1.5' in a REAL column as 1.5, but not in
	// every column affinity) still read as numbers.
	if v, err := (&Store{}).number([]byte(" 1.5"), 1, "summaries", "x"); err != nil || v != 1.5 {
		t.Errorf("number(\" 1.5\") = %v, %v", v, err)
	}
}

// TestReadArtifactRefusesASymlinkedRunFolder: a run's folder (runs/<id>) that is a symlink
// to a folder elsewhere leads every artifact of the run out of the database's artifact
// folder. Merge refuses such a folder in a shard ("a run's folder must be a folder of its
// own"); the reader does not follow it either, or the HTML report would embed any PNG (and
// --diff read any CSV of numbers) the user can read, wherever the symlink points. The same
// holds for a linked run (a report over several databases), whose folder is in its shard's
// artifact folder.
func TestReadArtifactRefusesASymlinkedRunFolder(t *testing.T) {
	for _, linked := range []bool{false, true} {
		dir := t.TempDir()
		s, id := storeWithArtifact(t, filepath.Join(dir, "runs.db"))
		runDir, err := s.RunDir(id)
		must(t, err)
		if linked {
			scratch, err := Open(filepath.Join(dir, "scratch", "combined.db"))
			must(t, err)
			defer scratch.Close()
			res, err := scratch.Merge(filepath.Join(dir, "runs.db"), MergeOptions{LinkArtifacts: true})
			must(t, err)
			scratch.UseLinkedRunDirs()
			s, id = scratch, res.IDs[id]
			if b, err := s.ReadArtifact(id, "a", 100); err != nil || string(b) != "mine" {
				t.Fatalf("the linked run's artifact before its folder is replaced: %q %v", b, err)
			}
		}
		elsewhere := filepath.Join(dir, "elsewhere")
		must(t, os.MkdirAll(elsewhere, 0o755))
		must(t, os.WriteFile(filepath.Join(elsewhere, "a.txt"), []byte("secret"), 0o644))
		must(t, os.RemoveAll(runDir))
		must(t, os.Symlink(elsewhere, runDir))
		b, err := s.ReadArtifact(id, "a", 100)
		if !errors.Is(err, ErrOutside) || !strings.Contains(fmt.Sprint(err), "run's folder") {
			t.Errorf("linked=%v: read %q, %v through the symlinked run folder %s -> %s; want it refused as outside the artifact folder", linked, b, err, runDir, elsewhere)
		}
	}
}

// TestReadArtifactOfADatabaseGivenRelatively: a database named by a path relative to the
// working directory (runner serve --db runs.db) reads its runs' artifacts, which live in a
// folder named relatively too.
func TestReadArtifactOfADatabaseGivenRelatively(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := Open("runs.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ClaimArtifactRoot(); err != nil {
		t.Fatal(err)
	}
	id, err := s.CreateRun(NewRun{Spec: "x", Hash: "h", GroupHash: "g"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.ArtifactRoot(), fmt.Sprint(id))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.csv"), []byte("t,v\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.AddArtifact(id, "a.csv", filepath.Join(dir, "a.csv")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.ReadArtifact(id, "a.csv", 100); err != nil || string(b) != "t,v\n1,2\n" {
		t.Errorf("ReadArtifact: %q %v", b, err)
	}
}
