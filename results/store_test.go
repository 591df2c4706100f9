package results

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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

// TestOpenRefusesATableThatIsNotARunnerTable: a database from elsewhere whose tables are
// views (an endless recursive one takes a few hundred bytes) or lack a column is refused at
// once by Open and OpenReadOnly, naming the database and the table, as Merge refuses such a
// shard; every later read of the view would otherwise run for ever.
func TestOpenRefusesATableThatIsNotARunnerTable(t *testing.T) {
	opens := []struct {
		name string
		open func(string) (*Store, error)
	}{{"Open", Open}, {"OpenReadOnly", OpenReadOnly}}
	cases := []struct {
		name  string
		stmts []string
		want  []string
	}{
		{"summaries is a recursive view", []string{"ALTER TABLE summaries RENAME TO summaries_old",
			"CREATE VIEW summaries AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT 1 AS run_id, 'k' || x AS key, 1.0 AS value FROM c"},
			[]string{"summaries", "view", "not a table"}},
		{"runs is a view", []string{"PRAGMA foreign_keys = off", "ALTER TABLE runs RENAME TO runs_old", "CREATE VIEW runs AS SELECT * FROM runs_old"},
			[]string{"runs", "view", "not a table"}},
		{"a column missing", []string{"ALTER TABLE metrics DROP COLUMN wall"}, []string{"metrics", "wall"}},
		{"a table missing", []string{"DROP TABLE timings"}, []string{"timings", "no table"}},
	}
	for _, o := range opens {
		for _, c := range cases {
			t.Run(o.name+"/"+c.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "runs.db")
				s, err := Open(path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.CreateRun(newRun("a", 0)); err != nil {
					t.Fatal(err)
				}
				s.Close()
				rawExec(t, path, c.stmts...)
				done := make(chan error, 1)
				go func() {
					s, err := o.open(path)
					if err == nil {
						// A database that opens is read the way a report reads it.
						_, err = s.Runs(Filter{})
						s.Close()
						if err == nil {
							err = errors.New("opened and read")
						}
					}
					done <- err
				}()
				select {
				case err = <-done:
				case <-time.After(20 * time.Second):
					t.Fatalf("%s of a database whose %s had not ended after 20 s", o.name, c.name)
				}
				for _, want := range append([]string{path}, c.want...) {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: error %q does not say %q", o.name, err, want)
					}
				}
			})
		}
	}
}
