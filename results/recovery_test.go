package results

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// TestAnyFileNameIsAName: bytes that a SQLite URI reads as syntax (#, %, ?, &, spaces) name
// exactly the file asked for; nothing else is created and no option is taken from the path.
func TestAnyFileNameIsAName(t *testing.T) {
	for _, name := range []string{"a#b.db", "a%20b.db", "x?mode=ro.db", "sp ace.db", "amp&_foreign_keys=off.db", "ünï.db", "%.db"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateRun(newRun("a", 1)); err != nil {
				t.Fatalf("writing %s: %v", name, err)
			}
			s.Close()
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			sort.Strings(names)
			if len(names) == 0 || names[0] != name {
				t.Fatalf("files %q, want %q (and its -wal/-shm)", names, name)
			}
			for _, n := range names {
				if n != name && n != name+"-wal" && n != name+"-shm" {
					t.Errorf("unexpected file %q beside %q", n, name)
				}
			}
			s, err = Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if runs, _ := s.Runs(Filter{}); len(runs) != 1 {
				t.Errorf("reopened %s: %d runs", name, len(runs))
			}
		})
	}
}

// TestTakeOverIsExclusive: of two processes that read the same record, only the first
// takeover succeeds.
func TestTakeOverIsExclusive(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, _ := s.CreateRun(newRun("a", 1))
	if err := s.EndRun(id, StatusInterrupted, "signal"); err != nil {
		t.Fatal(err)
	}
	seen, _ := s.Run(id)
	if err := s.TakeOver(id, seen); err != nil {
		t.Fatalf("first takeover: %v", err)
	}
	if err := s.TakeOver(id, seen); !errors.Is(err, ErrTakenOver) {
		t.Fatalf("second takeover of the same record: %v, want ErrTakenOver", err)
	}
	r, _ := s.Run(id)
	if r.Status != StatusRunning || r.Pid != os.Getpid() || r.Host != Host() {
		t.Errorf("after takeover: %s pid %d host %q", r.Status, r.Pid, r.Host)
	}
}

// TestArtifactPathsAreRelativeToTheDatabase: a path recorded from one working directory is
// found from another.
func TestArtifactPathsAreRelativeToTheDatabase(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join("sub", "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := s.CreateRun(newRun("a", 1))
	if err := os.MkdirAll(filepath.Join("sub", "runs", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("sub", "runs", "1", "p.png"), []byte("png"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.AddArtifact(id, "p.png", filepath.Join("sub", "runs", "1", "p.png")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	other := filepath.Join(dir, "elsewhere")
	os.MkdirAll(other, 0o755)
	if err := os.Chdir(other); err != nil {
		t.Fatal(err)
	}
	s, err = OpenReadOnly(filepath.Join(dir, "sub", "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.ArtifactPath(id, "p.png")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "png" {
		t.Errorf("artifact path %q from another folder: %v", p, err)
	}
}

// TestArtifactRootIsNamedAfterTheDatabase: runs.db keeps runs/, and each name its own folder.
func TestArtifactRootIsNamedAfterTheDatabase(t *testing.T) {
	for path, want := range map[string]string{"results/runs.db": "results/runs", "x/a.db": "x/a", "x/b.sqlite": "x/b", "x/plain": "x/plain.runs"} {
		if got := (&Store{Path: path}).ArtifactRoot(); got != want {
			t.Errorf("ArtifactRoot of %s = %s, want %s", path, got, want)
		}
	}
}
