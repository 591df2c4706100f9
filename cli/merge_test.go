package cli

import (
	"bufio"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// makeShard writes a shard database at path with one finished run per seed, each with an
// artifact file of size bytes in its run folder.
func makeShard(t *testing.T, path string, size int64, seeds ...int) {
	t.Helper()
	s, err := results.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	root, err := s.ClaimArtifactRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range seeds {
		id, err := s.CreateRun(results.NewRun{Spec: "quick", SpecFile: "q.toml", Hash: "h", GroupHash: "g", Resolved: "{}", Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, strconv.FormatInt(id, 10))
		os.MkdirAll(dir, 0o755)
		file := filepath.Join(dir, "samples.bin")
		f, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		// Written, not sparse: the copy must read and write every byte.
		chunk := make([]byte, 1<<20)
		for i := range chunk {
			chunk[i] = byte(i)
		}
		for left := size; left > 0; left -= int64(len(chunk)) {
			n := min(left, int64(len(chunk)))
			if _, err := f.Write(chunk[:n]); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		if err := s.AddArtifact(id, "samples", file); err != nil {
			t.Fatal(err)
		}
		if err := s.EndRun(id, results.StatusFinished, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMergeReadOnlyShard: a shard in a read-only folder (a WAL database whose -shm file
// cannot be made) is merged, not refused as corrupt.
func TestMergeReadOnlyShard(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	shard := filepath.Join(ro, "shard.db")
	makeShard(t, shard, 10, 0, 1)
	db := filepath.Join(dir, "main.db")
	if code, _, errOut := runCLI(t, "report", "--db", shard, "--format", "json"); code != 0 {
		t.Fatalf("report on the shard: %d %s", code, errOut)
	}
	if err := os.Chmod(shard, 0o444); err != nil {
		t.Fatal(err)
	}
	code, out := runReadOnly(t, ro, "merge", "--db", db, shard)
	if code != 0 || !strings.Contains(out, "2 added") {
		t.Fatalf("merging a read-only shard: exit %d %s", code, out)
	}
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, _ := s.Runs(results.Filter{})
	if len(runs) != 2 {
		t.Fatalf("%d runs merged, want 2", len(runs))
	}
	for _, r := range runs {
		p, _ := s.ArtifactPath(r.ID, "samples")
		if b, err := os.ReadFile(p); err != nil || len(b) != 10 {
			t.Errorf("run %d: artifact %s: %d bytes, %v", r.ID, p, len(b), err)
		}
	}
}

// TestMergeEscapesShardPaths: a shard path holding terminal escapes is printed escaped,
// both when it is merged and when it is refused.
func TestMergeEscapesShardPaths(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good\x1b[2J\x1b]0;owned\x07.db")
	makeShard(t, good, 10, 0)
	bad := filepath.Join(dir, "bad\x1b[31m.db")
	os.WriteFile(bad, nil, 0o644)
	code, _, errOut := runCLI(t, "merge", "--db", filepath.Join(dir, "main.db"), good, bad)
	if code != exitRunFail {
		t.Errorf("exit %d, want %d: %s", code, exitRunFail, errOut)
	}
	if strings.ContainsAny(errOut, "\x1b\x07") {
		t.Errorf("raw escape sequences printed: %q", errOut)
	}
	for _, want := range []string{`good\x1b[2J\x1b]0;owned\x07.db: 1 added`, `bad\x1b[31m.db: is empty`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("output does not say %q: %q", want, errOut)
		}
	}
}

// TestMergeStopsCleanlyOnASignal: SIGINT or SIGTERM while a merge copies its artifacts
// stops it with exit 1 and a message; the database holds nothing of the shard, and nothing
// is left in the artifact folder. A merge run again then completes.
func TestMergeStopsCleanlyOnASignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			shard := filepath.Join(dir, "shard.db")
			makeShard(t, shard, 24<<20, 0, 1, 2, 3)
			db := filepath.Join(dir, "main.db")
			self, _ := os.Executable()
			cmd := exec.Command(self, "-test.run=^TestHelperReadOnlyCLI$")
			cmd.Env = append(os.Environ(), "DDPM_TRACE_PHASES=1",
				`RUNNER_HELPER_ARGS=["merge", "--db", "`+db+`", "`+shard+`"]`)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var log strings.Builder
			sent := false
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				log.WriteString(sc.Text() + "\n")
				if !sent && sc.Text() == "phase: "+results.PhaseMergeCopying {
					cmd.Process.Signal(sig)
					sent = true
				}
			}
			err = cmd.Wait()
			if !sent {
				t.Fatalf("the merge never reached %s: %v\n%s", results.PhaseMergeCopying, err, log.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signaled() || ee.ExitCode() != exitRunFail {
				t.Fatalf("after %s during the copy: %v (want exit %d)\n%s", sig, err, exitRunFail, log.String())
			}
			if !strings.Contains(log.String(), "interrupted") {
				t.Errorf("the merge did not say it was interrupted:\n%s", log.String())
			}
			s, err := results.Open(db)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if runs, _ := s.Runs(results.Filter{}); len(runs) != 0 {
				t.Errorf("%d runs merged by an interrupted merge", len(runs))
			}
			entries, _ := os.ReadDir(s.ArtifactRoot())
			for _, e := range entries {
				if e.Name() != ".ddpm-database" {
					t.Errorf("%s left in the artifact folder", e.Name())
				}
			}
			if code, _, errOut := runCLI(t, "merge", "--db", db, shard); code != 0 || !strings.Contains(errOut, "4 added") {
				t.Errorf("merging again: exit %d %s", code, errOut)
			}
		})
	}
}

// TestMergeReadOnlyShardWithAWriteAheadLog: a read-only shard whose -wal file holds changes
// is merged with them when its -shm file is there, and refused, saying why, when it is not
// (reading it as immutable would skip them).
func TestMergeReadOnlyShardWithAWriteAheadLog(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	shard := filepath.Join(ro, "shard.db")
	makeShard(t, shard, 10, 0, 1)
	// A writer that keeps its changes in the log: no checkpoint, and the log is kept open.
	w, err := sql.Open("sqlite3", "file:"+shard+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	for _, q := range []string{"PRAGMA wal_autocheckpoint = 0", "UPDATE runs SET status = 'diverged' WHERE id = 2"} {
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	noShm := filepath.Join(dir, "ro2")
	os.MkdirAll(noShm, 0o755)
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(shard + suffix)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(noShm, "shard.db"+suffix), b, 0o444)
	}

	db := filepath.Join(dir, "main.db")
	code, out := runReadOnly(t, ro, "merge", "--db", db, shard)
	if code != 0 || !strings.Contains(out, "2 added") {
		t.Fatalf("merging a read-only shard with its log: exit %d %s", code, out)
	}
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	runs, _ := s.Runs(results.Filter{Status: results.StatusDiverged})
	s.Close()
	if len(runs) != 1 {
		t.Errorf("%d diverged runs merged, want the 1 the log holds", len(runs))
	}

	code, out = runReadOnly(t, noShm, "merge", "--db", filepath.Join(dir, "other.db"), filepath.Join(noShm, "shard.db"))
	if code != exitRunFail || !strings.Contains(out, "-wal holds changes") {
		t.Errorf("merging a read-only shard with a log but no -shm: exit %d %s", code, out)
	}
}
