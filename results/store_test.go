package results

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func newRun(spec string, seed int) NewRun {
	return NewRun{Spec: spec, SpecFile: spec + ".toml", Hash: "h", GroupHash: "g", Resolved: "{}", Seed: seed,
		Backend: "go", Params: map[string]string{"train.lr": "0.001"}, Env: map[string]string{"host": "test"}}
}

func TestRunLifecycle(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.CreateRun(newRun("a", 7))
	if err != nil {
		t.Fatal(err)
	}
	w := s.Metrics(id, 3)
	for i := range 10 {
		if err := w.Add("loss", i, float64(i)/2); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSummaries(id, map[string]float64{"fid": 1.5}); err != nil {
		t.Fatal(err)
	}
	if err := s.EndRun(id, StatusFinished, ""); err != nil {
		t.Fatal(err)
	}
	r, err := s.Run(id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != StatusFinished || r.Seed != 7 || r.Params["train.lr"] != "0.001" || r.Summaries["fid"] != 1.5 || r.Env["host"] != "test" || r.Ended == "" {
		t.Errorf("run read back as %+v", r)
	}
	h, err := s.History(id, "loss")
	if err != nil || len(h) != 10 || h[9].Value != 4.5 {
		t.Errorf("history %v %v", h, err)
	}
}

func TestMigratesOldSchemaWithoutLosingRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := openAt(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.DB.Exec(`INSERT INTO runs (spec, spec_file, hash, group_hash, resolved, seed, status, started)
		VALUES ('legacy', 'l.toml', 'h', 'g', '{}', 3, 'finished', '2026-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	if _, err := old.DB.Exec(`INSERT INTO metrics (run_id, key, step, value, wall) VALUES (1, 'loss', 1, 0.5, 0.1)`); err != nil {
		t.Fatal(err)
	}
	if v, _ := old.Version(); v != 1 {
		t.Fatalf("old database at version %d", v)
	}
	old.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.Version(); v != SchemaVersion {
		t.Errorf("version %d after Open, want %d", v, SchemaVersion)
	}
	r, err := s.Run(1)
	if err != nil || r.Spec != "legacy" || r.Seed != 3 {
		t.Fatalf("legacy run after migration: %+v %v", r, err)
	}
	if n, _ := s.CountMetrics(1); n != 1 {
		t.Errorf("%d metric rows after migration, want 1", n)
	}
	if err := s.SetTimings(1, map[string]float64{"train": 2}); err != nil {
		t.Errorf("new table unusable after migration: %v", err)
	}
}

func TestRefusesNonSQLiteFileAndLeavesItAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.db")
	content := []byte("these are my notes, not a database\n")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil {
		t.Fatal("opened a text file as a database")
	} else if !bytes.Contains([]byte(err.Error()), []byte("not a SQLite database")) {
		t.Errorf("unclear error: %v", err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, content) {
		t.Error("the file was modified")
	}
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(path + side); !os.IsNotExist(err) {
			t.Errorf("%s%s was created", path, side)
		}
	}
}

// TestHelperWriter is the child process of TestConcurrentWriters.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv("RESULTS_HELPER_DB")
	if path == "" {
		t.Skip("helper process only")
	}
	rows, _ := strconv.Atoi(os.Getenv("RESULTS_HELPER_ROWS"))
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.CreateRun(newRun("concurrent", 0))
	if err != nil {
		t.Fatal(err)
	}
	w := s.Metrics(id, 100)
	for i := range rows {
		if err := w.Add("loss", i, float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.EndRun(id, StatusFinished, ""); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	const procs, rows = 4, 10000
	path := filepath.Join(t.TempDir(), "shared.db")
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*bytes.Buffer, procs)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
		cmds[i].Env = append(os.Environ(), "RESULTS_HELPER_DB="+path, "RESULTS_HELPER_ROWS="+strconv.Itoa(rows))
		outs[i] = &bytes.Buffer{}
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("writer %d: %v\n%s", i, err, outs[i])
		}
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.CountMetrics(0)
	if err != nil || n != procs*rows {
		t.Errorf("%d metric rows (%v), want %d", n, err, procs*rows)
	}
	runs, _ := s.Runs(Filter{Status: StatusFinished})
	if len(runs) != procs {
		t.Errorf("%d finished runs, want %d", len(runs), procs)
	}
	for _, r := range runs {
		if c, _ := s.CountMetrics(r.ID); c != rows {
			t.Errorf("run %d has %d rows, want %d", r.ID, c, rows)
		}
	}
}
