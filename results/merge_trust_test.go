package results

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mergeWithin runs Merge and fails the test if it has not returned within d (a shard that
// makes merge run forever must be refused, not waited for).
func mergeWithin(t *testing.T, d time.Duration, s *Store, shard string, opt MergeOptions) (MergeResult, error) {
	t.Helper()
	type out struct {
		res MergeResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := s.Merge(shard, opt)
		done <- out{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-time.After(d):
		t.Fatalf("merging %s had not ended after %s", shard, d)
		return MergeResult{}, nil
	}
}

// rawExec runs SQL on a database file without the store's checks (to damage a shard).
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range stmts {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// runFolder is the artifact folder of a shard's run.
func runFolder(shardPath string, id int64) string {
	return filepath.Join(artifactRootOf(shardPath), strconv.FormatInt(id, 10))
}

// TestMergeRefusesArtifactPathsOutsideTheRun: an artifact row or a symlink of a shard that
// leads out of the run's own folder makes the whole shard refused, with the shard, the run
// and the artifact named, whether the artifacts are copied or linked; nothing is merged.
func TestMergeRefusesArtifactPathsOutsideTheRun(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, shardPath, outside string, id int64)
		folder bool // the run's folder itself leaves, so the error names the folder
	}{
		{"absolute path", func(t *testing.T, shardPath, outside string, id int64) {
			rawExec(t, shardPath, fmt.Sprintf(`UPDATE artifacts SET path = '%s' WHERE run_id = %d`, outside, id))
		}, false},
		{"dot-dot path", func(t *testing.T, shardPath, outside string, id int64) {
			rel, _ := filepath.Rel(filepath.Dir(shardPath), outside)
			rawExec(t, shardPath, fmt.Sprintf(`UPDATE artifacts SET path = '%s' WHERE run_id = %d`, rel, id))
		}, false},
		{"path into another run's folder", func(t *testing.T, shardPath, outside string, id int64) {
			other := filepath.Join(runFolder(shardPath, 1), "samples.bin")
			rawExec(t, shardPath, fmt.Sprintf(`UPDATE artifacts SET path = '%s' WHERE run_id = %d`, other, id))
		}, false},
		{"symlink in the run folder", func(t *testing.T, shardPath, outside string, id int64) {
			p := filepath.Join(runFolder(shardPath, id), "samples.bin")
			os.Remove(p)
			if err := os.Symlink(outside, p); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"run folder is a symlink", func(t *testing.T, shardPath, outside string, id int64) {
			dir := runFolder(shardPath, id)
			os.RemoveAll(dir)
			if err := os.Symlink(filepath.Dir(outside), dir); err != nil {
				t.Fatal(err)
			}
			rawExec(t, shardPath, fmt.Sprintf(`UPDATE artifacts SET path = '%s' WHERE run_id = %d`,
				filepath.Join(dir, filepath.Base(outside)), id))
		}, true},
	}
	for _, link := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/link=%v", tc.name, link), func(t *testing.T) {
				dir := t.TempDir()
				outside := filepath.Join(dir, "secret", "passwd")
				os.MkdirAll(filepath.Dir(outside), 0o755)
				os.WriteFile(outside, []byte("root:x:0:0"), 0o644)
				shardPath := filepath.Join(dir, "shard.db")
				shard, ids := shardWithRuns(t, shardPath, StatusFinished, StatusFinished)
				shard.Close()
				tc.tamper(t, shardPath, outside, ids[1])
				main := openMain(t, filepath.Join(dir, "main"))
				if link && !tc.folder {
					// A linked view keeps the row; its reader refuses the file.
					main.UseLinkedRunDirs()
					if _, err := main.Merge(shardPath, MergeOptions{LinkArtifacts: true}); err != nil {
						t.Fatalf("linked view of a shard with one stray artifact row: %v", err)
					}
					runs, _ := main.Runs(Filter{})
					if len(runs) != 2 {
						t.Fatalf("%d runs in the linked view, want 2", len(runs))
					}
					for _, r := range runs {
						b, err := main.ReadArtifact(r.ID, "samples", 1<<20)
						switch {
						case r.Seed == 1 && !errors.Is(err, ErrOutside): // the tampered run
							t.Errorf("the stray row of run %d read %q, %v; want ErrOutside", r.ID, b, err)
						case r.Seed != 1 && (err != nil || !strings.HasPrefix(string(b), "samples of run")):
							t.Errorf("the clean run %d read %q, %v", r.ID, b, err)
						}
					}
					return
				}
				_, err := main.Merge(shardPath, MergeOptions{LinkArtifacts: link})
				if err == nil {
					t.Fatal("merged a shard whose artifact leaves its run's folder")
				}
				wants := []string{shardPath, fmt.Sprintf("run %d", ids[1]), "outside"}
				if !tc.folder {
					wants = append(wants, `artifact "samples"`)
				}
				for _, want := range wants {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				if runs, _ := main.Runs(Filter{}); len(runs) != 0 {
					t.Errorf("%d runs merged from a refused shard", len(runs))
				}
				if entries, _ := os.ReadDir(main.ArtifactRoot()); len(entries) > 1 {
					t.Errorf("a refused merge left %d entries in the artifact folder", len(entries))
				}
			})
		}
	}
}

// TestMergeCopiesBeforeTakingTheWriteLock: while a merge copies artifact folders (a slow
// disk), another process can still write to the database.
func TestMergeCopiesBeforeTakingTheWriteLock(t *testing.T) {
	dir := t.TempDir()
	shardPath := filepath.Join(dir, "shard.db")
	shard, _ := shardWithRuns(t, shardPath, StatusFinished, StatusFinished)
	shard.Close()
	main := openMain(t, filepath.Join(dir, "main"))
	copying, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	testHookCopy = func(string) { once.Do(func() { close(copying); <-release }) }
	t.Cleanup(func() { testHookCopy = nil })
	done := make(chan error, 1)
	go func() {
		_, err := main.Merge(shardPath, MergeOptions{})
		done <- err
	}()
	select {
	case <-copying:
	case err := <-done:
		t.Fatalf("the merge ended without copying a file: %v", err)
	}
	uri, err := fileURI(main.Path, "_busy_timeout=300&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite3", uri)
	if err != nil {
		t.Fatal(err)
	}
	_, werr := other.Exec(`INSERT INTO meta (key, value) VALUES ('probe', 'written during the copy')`)
	other.Close()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Errorf("writing the database while a merge copies its artifacts: %v", werr)
	}
	if runs, _ := main.Runs(Filter{}); len(runs) != 2 {
		t.Errorf("%d runs merged, want 2", len(runs))
	}
}

// holdRunLock takes a run's lock the way its owning process does (an exclusive flock on
// run.lock in its artifact folder) and keeps it until the test ends.
func holdRunLock(t *testing.T, dir string) *os.File {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "run.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestMergeNeverReplacesALiveRun: a run that is live in this database (its lock held, or
// recorded running) is skipped with a message, whatever the shard's heartbeat says; its
// record, folder and lock are untouched.
func TestMergeNeverReplacesALiveRun(t *testing.T) {
	cases := []struct {
		name  string
		live  func(t *testing.T, main *Store, id int64)
		state string
	}{
		{"resumed here, lock held", func(t *testing.T, main *Store, id int64) {
			holdRunLock(t, filepath.Join(main.ArtifactRoot(), strconv.FormatInt(id, 10)))
		}, StatusInterrupted},
		{"resumed here, lock held, record running", func(t *testing.T, main *Store, id int64) {
			holdRunLock(t, filepath.Join(main.ArtifactRoot(), strconv.FormatInt(id, 10)))
			if _, err := main.DB.Exec(`UPDATE runs SET status = 'running', pid = ?, host = ? WHERE id = ?`, os.Getpid(), Host(), id); err != nil {
				t.Fatal(err)
			}
		}, StatusRunning},
		{"recorded running, lock file not made yet", func(t *testing.T, main *Store, id int64) {
			os.Remove(filepath.Join(main.ArtifactRoot(), strconv.FormatInt(id, 10), "run.lock"))
			if _, err := main.DB.Exec(`UPDATE runs SET status = 'running', pid = ?, host = ? WHERE id = ?`, os.Getpid(), Host(), id); err != nil {
				t.Fatal(err)
			}
		}, StatusRunning},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			shardPath := filepath.Join(dir, "shard.db")
			shard, ids := shardWithRuns(t, shardPath, StatusInterrupted)
			main := openMain(t, filepath.Join(dir, "main"))
			first, err := main.Merge(shardPath, MergeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mainID := first.IDs[ids[0]]
			runDir := filepath.Join(main.ArtifactRoot(), strconv.FormatInt(mainID, 10))
			os.WriteFile(filepath.Join(runDir, "run.lock"), nil, 0o644)
			// The shard's record moves on (a later heartbeat): a clock ahead, or a resume there.
			if err := shard.EndRun(ids[0], StatusFinished, ""); err != nil {
				t.Fatal(err)
			}
			shard.Close()
			tc.live(t, main, mainID)
			before, _ := os.ReadDir(runDir)
			res, err := main.Merge(shardPath, MergeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Updated != 0 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "live") ||
				!strings.Contains(res.Skipped[0], fmt.Sprintf("run %d", mainID)) {
				t.Errorf("merge over a live run: %+v", res)
			}
			got, err := main.Run(mainID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.state {
				t.Errorf("the live run is now %s, want %s", got.Status, tc.state)
			}
			after, err := os.ReadDir(runDir)
			if err != nil || len(after) != len(before) {
				t.Errorf("the live run's folder changed: %d entries, was %d (%v)", len(after), len(before), err)
			}
			if h, _ := main.History(mainID, "loss"); len(h) != 10 {
				t.Errorf("the live run's history has %d points, want 10", len(h))
			}
		})
	}
}

// TestMergeRefusesOddShards: shards that are not what a runner writes are refused before
// anything is written, with a reason that names what is wrong, and none runs forever.
func TestMergeRefusesOddShards(t *testing.T) {
	cols := "x AS id, 's' AS spec, 's.toml' AS spec_file, 'h' AS hash, 'g' AS group_hash, '{}' AS resolved, 0 AS seed, " +
		"'finished' AS status, '' AS error, '' AS started, '' AS ended, '' AS backend, '' AS heartbeat, '' AS host, 0 AS pid, hex(x) AS uid"
	cases := []struct {
		name   string
		tamper func(t *testing.T, shardPath string)
		want   []string
	}{
		{"runs is a recursive view", func(t *testing.T, p string) {
			rawExec(t, p, "PRAGMA foreign_keys = off", "DROP TABLE runs",
				"CREATE VIEW runs AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT "+cols+" FROM n")
		}, []string{"runs", "view", "not a table"}},
		{"metrics is a view", func(t *testing.T, p string) {
			rawExec(t, p, "DROP TABLE metrics", "CREATE VIEW metrics AS SELECT 1 AS run_id, 'k' AS key, 1 AS step, 1.0 AS value, 1.0 AS wall")
		}, []string{"metrics", "view", "not a table"}},
		{"a column missing", func(t *testing.T, p string) {
			rawExec(t, p, "ALTER TABLE metrics DROP COLUMN wall")
		}, []string{"metrics", "wall"}},
		{"a table missing", func(t *testing.T, p string) {
			rawExec(t, p, "DROP TABLE timings")
		}, []string{"timings", "no table"}},
		{"too many runs", func(t *testing.T, p string) {
			old := maxShardRuns
			maxShardRuns = 1
			t.Cleanup(func() { maxShardRuns = old })
		}, []string{"more than 1 runs"}},
		{"a made-up status", func(t *testing.T, p string) {
			rawExec(t, p, "UPDATE runs SET status = 'bogus' WHERE id = 2")
		}, []string{"run 2", `"bogus"`, "finished"}},
		{"two runs with one uid", func(t *testing.T, p string) {
			rawExec(t, p, "DROP INDEX runs_uid", "UPDATE runs SET uid = (SELECT uid FROM runs WHERE id = 1) WHERE id = 2")
		}, []string{"runs 1 and 2", "uid"}},
		{"a newer schema", func(t *testing.T, p string) {
			rawExec(t, p, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion+1))
		}, []string{"newer runner", "upgrade"}},
		{"a run folder that is a file", func(t *testing.T, p string) {
			dir := runFolder(p, 2)
			os.RemoveAll(dir)
			os.WriteFile(dir, []byte("not a folder"), 0o644)
		}, []string{"run 2", "not a folder"}},
		{"a run folder that is a symlink inside the shard's folder", func(t *testing.T, p string) {
			dir := runFolder(p, 2)
			os.RemoveAll(dir)
			os.Symlink(runFolder(p, 1), dir)
		}, []string{"run 2", "symlink"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			shardPath := filepath.Join(dir, "shard.db")
			shard, _ := shardWithRuns(t, shardPath, StatusFinished, StatusFinished)
			shard.Close()
			tc.tamper(t, shardPath)
			main := openMain(t, filepath.Join(dir, "main"))
			_, err := mergeWithin(t, 20*time.Second, main, shardPath, MergeOptions{})
			if err == nil {
				t.Fatal("merged an odd shard")
			}
			for _, want := range append([]string{shardPath}, tc.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "rename") {
				t.Errorf("error %q is about a rename, not about the shard", err)
			}
			if runs, _ := main.Runs(Filter{}); len(runs) != 0 {
				t.Errorf("%d runs merged from a refused shard", len(runs))
			}
		})
	}
}

// deadPID is the pid of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestMergeRemovesStaleStagingFolders: the staging folders that a killed merge left (its
// process gone) are removed by the next merge; a live merge's are not.
func TestMergeRemovesStaleStagingFolders(t *testing.T) {
	dir := t.TempDir()
	shardPath := filepath.Join(dir, "shard.db")
	shard, _ := shardWithRuns(t, shardPath, StatusFinished)
	shard.Close()
	main := openMain(t, filepath.Join(dir, "main"))
	root, err := main.ClaimArtifactRoot()
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(root, fmt.Sprintf("7.merging-%d", deadPID(t)))
	live := filepath.Join(root, fmt.Sprintf("8.merging-%d", os.Getppid()))
	staleNew := filepath.Join(root, fmt.Sprintf(".merging-%d-123", deadPID(t)))
	liveNew := filepath.Join(root, fmt.Sprintf(".merging-%d-456", deadPID(t)))
	for _, d := range []string{stale, live, staleNew, liveNew} {
		os.MkdirAll(filepath.Join(d, "checkpoint"), 0o755)
		os.WriteFile(filepath.Join(d, "checkpoint", "checkpoint-1.bin"), []byte("x"), 0o644)
	}
	// A live merge holds its staging folder's lock (whatever pid its name says).
	lock, err := os.OpenFile(filepath.Join(liveNew, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := main.Merge(shardPath, MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{stale, staleNew} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the stale staging folder %s is still there (%v)", d, err)
		}
	}
	for _, d := range []string{live, liveNew} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("a live merge's staging folder was removed: %v", err)
		}
	}
}

// TestHelperKilledMerge is the child process of TestMergeKilledAnywhere: it merges a shard
// and kills itself with SIGKILL at the point named in $RESULTS_KILL_AT ("step:N").
func TestHelperKilledMerge(t *testing.T) {
	spec := os.Getenv("RESULTS_KILL_AT")
	if spec == "" {
		t.Skip("helper process only")
	}
	step, nth, _ := strings.Cut(spec, ":")
	n, _ := strconv.Atoi(nth)
	seen := 0
	kill := func(s string) {
		if s == step {
			if seen++; seen == n {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	testHookStep = kill
	testHookCopy = func(string) { kill("copy") }
	main, err := Open(os.Getenv("RESULTS_MAIN"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := main.Merge(os.Getenv("RESULTS_SHARD"), MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	os.Exit(0)
}

// checkFoldersAgree checks that the database and its artifact folder agree: every run
// folder belongs to a recorded run, every run's artifact file holds the content its record
// says (contents says which, by status), and nothing of a merge is left beside them.
func checkFoldersAgree(t *testing.T, main *Store, contents map[string]string) {
	t.Helper()
	root := main.ArtifactRoot()
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		name := e.Name()
		if name == markerFile {
			continue
		}
		id, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			t.Errorf("%s left in the artifact folder", name)
			continue
		}
		if _, err := main.Run(id); err != nil {
			t.Errorf("folder %s belongs to no run: %v", name, err)
		}
	}
	var leftover int
	main.DB.QueryRow(`SELECT COUNT(*) FROM meta WHERE key <> 'database_id'`).Scan(&leftover)
	if leftover != 0 {
		t.Errorf("%d merge records left in meta", leftover)
	}
	runs, _ := main.Runs(Filter{})
	for _, r := range runs {
		p, err := main.ArtifactPath(r.ID, "samples")
		if err != nil || p == "" {
			t.Errorf("run %d has no samples artifact (%v)", r.ID, err)
			continue
		}
		b, err := os.ReadFile(p)
		if want := contents[r.Status+"/"+r.Env["merged_shard_run"]]; err != nil || string(b) != want {
			t.Errorf("run %d (%s) samples %q (%v), want %q", r.ID, r.Status, b, err, want)
		}
	}
}

// TestMergeKilledAnywhere kills a merge (SIGKILL, in a child process) at every point of its
// copy, renames and commit, then checks that the next merge recovers: the database and
// folders agree, and merging completes the work once.
func TestMergeKilledAnywhere(t *testing.T) {
	points := []string{"copy:1", "copy:2", "renamed:1", "renamed:2", "renamed:3", "committed:1", "cleaned:1"}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			dir := t.TempDir()
			shardPath := filepath.Join(dir, "shard.db")
			shard, ids := shardWithRuns(t, shardPath, StatusInterrupted)
			main := openMain(t, filepath.Join(dir, "main"))
			if _, err := main.Merge(shardPath, MergeOptions{}); err != nil {
				t.Fatal(err)
			}
			// In the shard the run is resumed to the end (new samples) and a second run ends.
			if err := os.WriteFile(filepath.Join(runFolder(shardPath, ids[0]), "samples.bin"), []byte("resumed"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := shard.EndRun(ids[0], StatusFinished, ""); err != nil {
				t.Fatal(err)
			}
			id2, err := shard.CreateRun(newRun("shard", 5))
			if err != nil {
				t.Fatal(err)
			}
			f2 := filepath.Join(runFolder(shardPath, id2), "samples.bin")
			os.MkdirAll(filepath.Dir(f2), 0o755)
			os.WriteFile(f2, []byte("second"), 0o644)
			shard.AddArtifact(id2, "samples", f2)
			shard.EndRun(id2, StatusFinished, "")
			shard.Close()
			contents := map[string]string{
				StatusInterrupted + "/" + strconv.FormatInt(ids[0], 10): "samples of run " + strconv.FormatInt(ids[0], 10),
				StatusFinished + "/" + strconv.FormatInt(ids[0], 10):    "resumed",
				StatusFinished + "/" + strconv.FormatInt(id2, 10):       "second",
			}

			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperKilledMerge$")
			cmd.Env = append(os.Environ(), "RESULTS_KILL_AT="+point, "RESULTS_MAIN="+main.Path, "RESULTS_SHARD="+shardPath)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
				t.Fatalf("the merge was not killed at %s: %v\n%s", point, err, out)
			}

			// Recovery alone leaves the database and folders agreeing (the merge either
			// happened whole or not at all); merging again then completes the work.
			if _, err := main.RecoverMerges(); err != nil {
				t.Fatalf("recovering after the kill: %v", err)
			}
			checkFoldersAgree(t, main, contents)
			res, err := main.Merge(shardPath, MergeOptions{})
			if err != nil {
				t.Fatalf("merge after the kill: %v", err)
			}
			if res.Added+res.Updated+res.Unchanged != 2 {
				t.Errorf("merge after the kill: %+v", res)
			}
			runs, _ := main.Runs(Filter{})
			if len(runs) != 2 {
				t.Errorf("%d runs after the kill and a merge, want 2", len(runs))
			}
			for _, r := range runs {
				if r.Status != StatusFinished {
					t.Errorf("run %d is %s after merging again", r.ID, r.Status)
				}
			}
			checkFoldersAgree(t, main, contents)
		})
	}
}

// TestRecoverMergesLeavesAnotherDatabasesFolderAlone: an artifact folder marked by another
// database is not this database's to recover, even where a stale staging folder lies in it
// (this database's journal cannot say whether that merge committed).
func TestRecoverMergesLeavesAnotherDatabasesFolderAlone(t *testing.T) {
	dir := t.TempDir()
	main := openMain(t, dir)
	root := main.ArtifactRoot()
	stale := filepath.Join(root, fmt.Sprintf(".merging-%d-1", deadPID(t)))
	os.MkdirAll(stale, 0o755)
	os.WriteFile(filepath.Join(root, markerFile), []byte("another-database\n"), 0o644)
	if notes, err := main.RecoverMerges(); err != nil || len(notes) != 0 {
		t.Errorf("recovering in another database's folder: %v %v", notes, err)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Errorf("another database's staging folder was touched: %v", err)
	}
}

// TestMergeOfAShardReachedThroughASymlink: a shard named through a symlink in another
// folder is the same database as the file it leads to (its artifacts live beside that
// file, see ArtifactRoot, and its artifact paths are stored relative to that file's
// folder), so merging it, copied or linked, finds its run's files rather than looking for
// them beside the symlink and refusing them as "outside".
func TestMergeOfAShardReachedThroughASymlink(t *testing.T) {
	for _, link := range []bool{false, true} {
		dir := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(dir, "other"), 0o755))
		must(t, os.MkdirAll(filepath.Join(dir, "lnk"), 0o755))
		shardPath := filepath.Join(dir, "other", "S.db")
		shard, sid := storeWithArtifact(t, shardPath)
		shard.Close()
		viaLink := filepath.Join(dir, "lnk", "link.db")
		must(t, os.Symlink(shardPath, viaLink))
		main := openMain(t, filepath.Join(dir))
		res, err := main.Merge(viaLink, MergeOptions{LinkArtifacts: link})
		if err != nil {
			t.Errorf("LinkArtifacts=%v: merging the shard through a symlink: %v", link, err)
			continue
		}
		if link {
			main.UseLinkedRunDirs()
		}
		if b, err := main.ReadArtifact(res.IDs[sid], "a", 100); err != nil || string(b) != "mine" {
			t.Errorf("LinkArtifacts=%v: the merged run's artifact: %q %v, want \"mine\"", link, b, err)
		}
	}
}

// TestRecoveryReadsOnlyItsOwnSmallFiles: the folder's marker and a staging folder's manifest
// are read as small regular files inside their folders. A FIFO planted as either would hang
// every command that opens the database for writing, and a symlink to /dev/zero would take
// its memory; both are refused, and the staging folder is left as it is.
func TestRecoveryReadsOnlyItsOwnSmallFiles(t *testing.T) {
	for _, plant := range []string{"fifo", "dev-zero"} {
		for _, file := range []string{"marker", "manifest"} {
			t.Run(plant+" as the "+file, func(t *testing.T) {
				dir := t.TempDir()
				main := openMain(t, dir)
				root, err := main.ClaimArtifactRoot()
				must(t, err)
				stale := filepath.Join(root, fmt.Sprintf(".merging-%d-1", deadPID(t)))
				must(t, os.MkdirAll(stale, 0o755))
				target := filepath.Join(stale, stagingManifest)
				if file == "marker" {
					target = filepath.Join(root, markerFile)
					must(t, os.Remove(target))
				}
				if plant == "fifo" {
					must(t, syscall.Mkfifo(target, 0o644))
				} else {
					must(t, os.Symlink("/dev/zero", target))
				}
				done := make(chan error, 1)
				go func() { _, err := main.RecoverMerges(); done <- err }()
				select {
				case err = <-done:
				case <-time.After(20 * time.Second):
					t.Fatal("recovery hung on the planted file")
				}
				if file == "manifest" && (err == nil || !strings.Contains(err.Error(), stagingManifest)) {
					t.Errorf("a planted manifest: %v, want an error naming it", err)
				}
				if _, err := os.Stat(stale); err != nil {
					t.Errorf("the staging folder was removed although its manifest could not be read: %v", err)
				}
			})
		}
	}
}
