package results

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// shardWithRuns makes a shard database holding one run per status given, each with a loss
// history, a summary, a timing and an artifact file in its run folder.
func shardWithRuns(t *testing.T, path string, statuses ...string) (*Store, []int64) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	root, err := s.ClaimArtifactRoot()
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i, st := range statuses {
		id, err := s.CreateRun(newRun("shard", i))
		if err != nil {
			t.Fatal(err)
		}
		w := s.Metrics(id, 4)
		for step := 1; step <= 10; step++ {
			if err := w.Add("loss", step, float64(step)+float64(i)/10); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := s.SetSummaries(id, map[string]float64{"fid": float64(10 + i)}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetTimings(id, map[string]float64{"train": 1.5}); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, strconv.FormatInt(id, 10))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "samples.bin")
		if err := os.WriteFile(file, []byte("samples of run "+strconv.FormatInt(id, 10)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := s.AddArtifact(id, "samples", file); err != nil {
			t.Fatal(err)
		}
		if st != StatusRunning {
			if err := s.EndRun(id, st, ""); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, id)
	}
	return s, ids
}

func openMain(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(filepath.Join(dir, "main.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMergeImportsEveryEndedRunOnce(t *testing.T) {
	dir := t.TempDir()
	shardPath := filepath.Join(dir, "shards", "trial-1.db")
	shard, ids := shardWithRuns(t, shardPath, StatusFinished, StatusFailed, StatusDiverged, StatusInterrupted, StatusRunning)
	shard.Close()
	main := openMain(t, dir)
	res, err := main.Merge(shardPath, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 4 || res.Updated != 0 || res.Unchanged != 0 || len(res.Skipped) != 1 {
		t.Fatalf("first merge: %+v", res)
	}
	runs, err := main.Runs(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 {
		t.Fatalf("%d runs after merge, want 4", len(runs))
	}
	shard, err = OpenReadOnly(shardPath)
	if err != nil {
		t.Fatal(err)
	}
	defer shard.Close()
	for _, sid := range ids[:4] {
		want, _ := shard.Run(sid)
		got, err := main.Run(res.IDs[sid])
		if err != nil {
			t.Fatal(err)
		}
		if got.UID != want.UID || got.Status != want.Status || got.Seed != want.Seed || got.Summaries["fid"] != want.Summaries["fid"] ||
			got.Timings["train"] != 1.5 || got.Params["train.lr"] != "0.001" || got.Started != want.Started || got.Ended != want.Ended {
			t.Errorf("run %d merged as %+v, shard has %+v", sid, got, want)
		}
		if got.Env["merged_from"] == "" || got.Env["merged_shard_run"] != strconv.FormatInt(sid, 10) || got.Env["host"] != "test" {
			t.Errorf("run %d env %v", sid, got.Env)
		}
		hw, _ := shard.History(sid, "loss")
		hg, _ := main.History(got.ID, "loss")
		if len(hg) != len(hw) || len(hg) != 10 {
			t.Fatalf("history lengths %d and %d", len(hg), len(hw))
		}
		for i := range hw {
			if hg[i] != hw[i] {
				t.Errorf("run %d step %d: %+v, shard %+v", sid, hw[i].Step, hg[i], hw[i])
			}
		}
		p, err := main.ArtifactPath(got.ID, "samples")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p, main.ArtifactRoot()) {
			t.Errorf("artifact %s is not in the main database's folder %s", p, main.ArtifactRoot())
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != "samples of run "+strconv.FormatInt(sid, 10) {
			t.Errorf("artifact %s: %q %v", p, b, err)
		}
	}

	again, err := main.Merge(shardPath, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Added != 0 || again.Updated != 0 || again.Unchanged != 4 {
		t.Errorf("second merge: %+v", again)
	}
	if runs, _ := main.Runs(Filter{}); len(runs) != 4 {
		t.Errorf("%d runs after merging twice, want 4", len(runs))
	}
	if n, _ := main.CountMetrics(0); n != 40 {
		t.Errorf("%d metric rows after merging twice, want 40", n)
	}
}

func TestMergeAfterTheShardGrew(t *testing.T) {
	dir := t.TempDir()
	shardPath := filepath.Join(dir, "shard.db")
	shard, ids := shardWithRuns(t, shardPath, StatusInterrupted)
	main := openMain(t, dir)
	if _, err := main.Merge(shardPath, MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	// The interrupted run is resumed in the shard and finishes, with a longer history; a
	// second trial runs there too.
	w := shard.Metrics(ids[0], 1)
	if err := w.Add("loss", 11, 0.25); err != nil {
		t.Fatal(err)
	}
	if err := shard.EndRun(ids[0], StatusFinished, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := shard.CreateRun(newRun("shard", 9)); err != nil {
		t.Fatal(err)
	}
	second, _ := shard.Runs(Filter{Last: 1})
	if err := shard.EndRun(second[0].ID, StatusFinished, ""); err != nil {
		t.Fatal(err)
	}
	shard.Close()
	res, err := main.Merge(shardPath, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 1 || res.Updated != 1 || res.Unchanged != 0 {
		t.Fatalf("merge after growth: %+v", res)
	}
	runs, _ := main.Runs(Filter{})
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
	resumed, _ := main.Run(res.IDs[ids[0]])
	if resumed.Status != StatusFinished {
		t.Errorf("resumed run merged as %s", resumed.Status)
	}
	if h, _ := main.History(resumed.ID, "loss"); len(h) != 11 || h[10].Value != 0.25 {
		t.Errorf("resumed run's history has %d points", len(h))
	}
	if p, _ := main.ArtifactPath(resumed.ID, "samples"); p == "" {
		t.Error("resumed run lost its artifact")
	} else if _, err := os.Stat(p); err != nil {
		t.Error(err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(main.ArtifactRoot(), "*.[mr]*")); len(leftovers) != 0 {
		t.Errorf("merge left %v", leftovers)
	}
}

// TestMergeRefusesBadShards checks that every kind of bad shard is refused with its name in
// the error, and that the main database's file is byte for byte what it was.
func TestMergeRefusesBadShards(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	shard, _ := shardWithRuns(t, good, StatusFinished, StatusFinished, StatusFinished)
	// Enough rows that the file has many pages to damage.
	w := shard.Metrics(1, 1000)
	for i := range 20000 {
		w.Add("filler", i, float64(i))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	shard.Close()
	original, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	damaged := bytes.Clone(original)
	for i := len(damaged) / 2; i < len(damaged)/2+3*4096; i++ {
		damaged[i] = 0xA5
	}
	mainDir := filepath.Join(dir, "main")
	main := openMain(t, mainDir)
	if _, err := main.Merge(good, MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"truncated", write("truncated.db", original[:len(original)/2]), "corrupt"},
		{"damaged pages", write("damaged.db", damaged), "corrupt"},
		{"not sqlite", write("text.db", []byte("these are not the rows you are looking for\n")), "not a SQLite database"},
		{"empty", write("empty.db", nil), "empty"},
		{"missing", filepath.Join(dir, "missing.db"), "no such file"},
		{"itself", main.Path, "is the database being merged into"},
	}
	main.Close()
	before, err := os.ReadFile(main.Path)
	if err != nil {
		t.Fatal(err)
	}
	main = openMain(t, mainDir)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := main.Merge(tc.path, MergeOptions{})
			if err == nil {
				t.Fatal("merged a bad shard")
			}
			if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should name %s and say %q", err, tc.path, tc.want)
			}
		})
	}
	main.Close()
	after, err := os.ReadFile(main.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a refused merge changed the main database file")
	}
	if entries, _ := os.ReadDir(main.ArtifactRoot()); len(entries) != 4 { // the marker and 3 run folders
		t.Errorf("artifact folder holds %d entries after refused merges, want 4", len(entries))
	}
}

func TestMergeLinkingArtifacts(t *testing.T) {
	dir := t.TempDir()
	shardPath := filepath.Join(dir, "a", "shard.db")
	shard, ids := shardWithRuns(t, shardPath, StatusFinished)
	shard.Close()
	scratch := openMain(t, filepath.Join(dir, "scratch"))
	res, err := scratch.Merge(shardPath, MergeOptions{LinkArtifacts: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := scratch.ArtifactPath(res.IDs[ids[0]], "samples")
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "a", "shard", strconv.FormatInt(ids[0], 10), "samples.bin")
	if p != want {
		t.Errorf("linked artifact at %s, want %s", p, want)
	}
	if _, err := os.Stat(scratch.ArtifactRoot()); err == nil {
		t.Error("linking created an artifact folder")
	}
}

func TestMigrationGivesOldRunsDistinctUIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := openAt(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := old.DB.Exec(`INSERT INTO runs (spec, spec_file, hash, group_hash, resolved, seed, status, started) VALUES ('a', 'a.toml', 'h', 'g', '{}', ?, 'finished', 'now')`, i); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, _ := s.Runs(Filter{})
	seen := map[string]bool{}
	for _, r := range runs {
		if len(r.UID) != 32 || seen[r.UID] {
			t.Errorf("run %d uid %q", r.ID, r.UID)
		}
		seen[r.UID] = true
	}
}
