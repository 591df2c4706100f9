package faults

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin" // the metrics' declarations of their values
	"github.com/ddpm-runner/ddpm-runner/results"
)

// suite is what the iterations share: the work folder, the spec, and the uninterrupted
// references, each computed once.
type suite struct {
	work     string
	specPath string
	refs     map[string]string // the reference databases by name
}

func newSuite(t *testing.T) *suite {
	work := t.TempDir()
	specPath := filepath.Join(work, "faults.toml")
	if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return &suite{work: work, specPath: specPath, refs: map[string]string{}}
}

const spec = `name = "faults"
[data]
name = "swissroll"
[schedule]
name = "cosine"
T = 20
[predictor]
variance = "learned_range"
[network]
hidden = [32, 32]
embed = 8
[train]
steps = 120
batch = 32
lr = 1e-3
ema = 0.9
log_every = 1
checkpoint_every = 25
[sample]
n = 64
[eval]
metrics = ["nll", "frechet"]
n = 64
`

// combos are the settings a training fault is tried with: each timestep sampler (the
// default first) with each loss.
var combos = [][]string{
	{"loss.timesteps=uniform", "loss.name=simple"},
	{"loss.timesteps=uniform", "loss.name=vlb"},
	{"loss.timesteps=uniform", "loss.name=hybrid"},
	{"loss.timesteps=importance", "loss.name=simple"},
	{"loss.timesteps=importance", "loss.name=vlb"},
	{"loss.timesteps=importance", "loss.name=hybrid"},
}

func sets(kv []string) []string {
	var out []string
	for _, s := range kv {
		out = append(out, "--set", s)
	}
	return out
}

// runner runs the runner to its end in dir ("" for the current folder).
func runner(dir string, args ...string) (string, error) {
	cmd := exec.Command(runnerBin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// key is what makes a run the same work: its trial (spec hash) and seed.
type key struct {
	hash string
	seed int
}

// outcome is what an uninterrupted run promises to reproduce bit for bit.
type outcome struct {
	status    string
	kind      string
	losses    []float64
	summaries map[string]float64
	// evals are the histories of the metric values evaluated during training, by key.
	evals map[string][]results.Point
}

// reference runs build(db) once, uninterrupted, in a folder of its own (setup, if not nil,
// prepares it first), and returns the database.
func (s *suite) reference(t *testing.T, name string, setup func(dir string), build func(db string) []string) string {
	t.Helper()
	if db, ok := s.refs[name]; ok {
		return db
	}
	dir := filepath.Join(s.work, fmt.Sprintf("ref%d", len(s.refs)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(dir)
	}
	db := filepath.Join(dir, "runs.db")
	if out, err := runner(dir, build(db)...); err != nil {
		t.Fatalf("reference %s: %v\n%s", name, err, out)
	}
	s.refs[name] = db
	return db
}

// finished reads the finished runs of db by key; a key twice is a duplicate.
func finished(t *testing.T, db string) map[key]outcome {
	t.Helper()
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.Runs(results.Filter{Status: results.StatusFinished})
	if err != nil {
		t.Fatal(err)
	}
	out := map[key]outcome{}
	for _, r := range runs {
		k := key{r.Hash, r.Seed}
		if _, dup := out[k]; dup {
			t.Fatalf("%s: run %d duplicates a finished run of seed %d (hash %s)", db, r.ID, r.Seed, r.Hash)
		}
		out[k] = readOutcome(t, s, r)
	}
	return out
}

// byUID reads every run of db by its uid; a uid twice is a duplicate.
func byUID(t *testing.T, db string) map[string]outcome {
	t.Helper()
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]outcome{}
	for _, r := range runs {
		if _, dup := out[r.UID]; dup || r.UID == "" {
			t.Fatalf("%s: run %d has the uid %q of another run", db, r.ID, r.UID)
		}
		out[r.UID] = readOutcome(t, s, r)
	}
	return out
}

// outcomeOf reads run id of db.
func outcomeOf(t *testing.T, db string, id int64) outcome {
	t.Helper()
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Run(id)
	if err != nil {
		t.Fatal(err)
	}
	return readOutcome(t, s, r)
}

func readOutcome(t *testing.T, s *results.Store, r *results.Run) outcome {
	t.Helper()
	h, err := s.History(r.ID, "loss")
	if err != nil {
		t.Fatal(err)
	}
	o := outcome{status: r.Status, kind: r.Env["kind"], summaries: r.Summaries, evals: map[string][]results.Point{}}
	for _, p := range h {
		o.losses = append(o.losses, p.Value)
	}
	keys, err := s.HistoryKeys(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, ranked := plugins.Ranked(k); !ranked {
			continue
		}
		pts, err := s.History(r.ID, k)
		if err != nil {
			t.Fatal(err)
		}
		for i := range pts {
			pts[i].Wall = 0
		}
		o.evals[k] = pts
	}
	return o
}

// template makes a folder with build once and returns it; iterations copy it.
func (s *suite) template(t *testing.T, name string, build func(t *testing.T, dir string)) string {
	t.Helper()
	dir := filepath.Join(s.work, "template-"+name)
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	tmp := dir + ".tmp"
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	build(t, tmp)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyDir copies the regular files and folders of src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func digest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// checkArtifacts checks that every artifact recorded in db is a regular file inside the
// database's own artifact folder.
func checkArtifacts(t *testing.T, name, db string) {
	t.Helper()
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.DB.Query("SELECT run_id, name FROM artifacts")
	if err != nil {
		t.Fatal(err)
	}
	type art struct {
		id   int64
		name string
	}
	var arts []art
	for rows.Next() {
		var a art
		if err := rows.Scan(&a.id, &a.name); err != nil {
			t.Fatal(err)
		}
		arts = append(arts, a)
	}
	rows.Close()
	root, err := filepath.EvalSymlinks(s.ArtifactRoot())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, a := range arts {
		p, err := s.ArtifactPath(a.id, a.name)
		if err != nil {
			t.Fatal(err)
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatalf("%s: run %d's artifact %s: %v", name, a.id, a.name, err)
		}
		if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() || !strings.HasPrefix(real, root+string(filepath.Separator)) {
			t.Fatalf("%s: run %d's artifact %s is %s, not a regular file in %s", name, a.id, a.name, real, root)
		}
	}
}

// checkStore checks what must hold after any fault, once every process has ended: a
// command that opens the database for writing (report) records crashed runs; then the
// database is intact and every run's status is true: none running, a finished training run
// has its summaries, an interrupted one a checkpoint to resume from, and a failed one failed
// only for want of a checkpoint (a kill before the first).
func checkStore(t *testing.T, name, db string) {
	t.Helper()
	if out, err := runner(filepath.Dir(db), "report", "--db", db, "--format", "json"); err != nil {
		t.Fatalf("%s: report after the fault: %v\n%s", name, err, out)
	}
	s, err := results.Open(db)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer s.Close()
	var ok string
	if err := s.DB.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("%s: %s: integrity_check: %q %v", name, db, ok, err)
	}
	runs, err := s.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		dir := filepath.Join(s.ArtifactRoot(), fmt.Sprint(r.ID))
		bins, _ := filepath.Glob(filepath.Join(dir, "checkpoint", "checkpoint-*.bin"))
		training := r.Env["kind"] != "sample"
		switch r.Status {
		case results.StatusRunning:
			t.Fatalf("%s: %s: run %d is recorded as running, but every process has ended", name, db, r.ID)
		case results.StatusFinished:
			if _, ok := r.Summaries["final_loss"]; (training && !ok) || len(r.Summaries) < 5 {
				t.Fatalf("%s: %s: run %d finished with summaries %v", name, db, r.ID, r.Summaries)
			}
		case results.StatusInterrupted:
			if training && len(bins) == 0 {
				t.Fatalf("%s: %s: run %d interrupted without a checkpoint", name, db, r.ID)
			}
		case results.StatusFailed:
			if !training || len(bins) > 0 || !strings.Contains(r.Error, "no checkpoint") {
				t.Fatalf("%s: %s: run %d failed: %s", name, db, r.ID, r.Error)
			}
		default:
			t.Fatalf("%s: %s: run %d recorded as %s", name, db, r.ID, r.Status)
		}
	}
}

// complete checks that the work of db is done after recovery: every run of want finished,
// once, with want's losses and summaries bit for bit; nothing else finished; nothing left
// interrupted or running (an interrupted run is continued in place, not run again).
func complete(t *testing.T, name, db string, want map[key]outcome) {
	t.Helper()
	checkStore(t, name, db)
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs(results.Filter{})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Status == results.StatusInterrupted {
			t.Fatalf("%s: %s: run %d (seed %d) is still interrupted after recovery", name, db, r.ID, r.Seed)
		}
	}
	noStrays(t, name, db)
	got := finished(t, db)
	var missing []string
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			missing = append(missing, fmt.Sprintf("seed %d (hash %.12s)", k.seed, k.hash))
			continue
		}
		same(t, fmt.Sprintf("%s: seed %d", name, k.seed), g, w)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("%s: %s: not finished after recovery: %s", name, db, strings.Join(missing, ", "))
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Fatalf("%s: %s: a finished run of seed %d (hash %.12s) that the uninterrupted command does not make", name, db, k.seed, k.hash)
		}
	}
}

// noStrays checks that db's artifact folder holds only run folders and its marker: no
// scratch shards of --jobs, no staging folders of a merge, no temporary files.
func noStrays(t *testing.T, name, db string) {
	t.Helper()
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	root := s.ArtifactRoot()
	s.Close()
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); (err == nil && e.IsDir()) || e.Name() == ".ddpm-database" {
			continue
		}
		t.Fatalf("%s: %s left in the artifact folder %s after the work completed", name, e.Name(), root)
	}
}

func same(t *testing.T, name string, got, want outcome) {
	t.Helper()
	if got.status != want.status {
		t.Fatalf("%s: %s, uninterrupted %s", name, got.status, want.status)
	}
	if len(got.losses) != len(want.losses) {
		t.Fatalf("%s: %d losses, uninterrupted %d", name, len(got.losses), len(want.losses))
	}
	for i := range want.losses {
		if math.Float64bits(got.losses[i]) != math.Float64bits(want.losses[i]) {
			t.Fatalf("%s: loss %d = %v, uninterrupted %v", name, i+1, got.losses[i], want.losses[i])
		}
	}
	if len(got.evals) != len(want.evals) {
		t.Fatalf("%s: %d histories evaluated during training, uninterrupted %d", name, len(got.evals), len(want.evals))
	}
	for k, w := range want.evals {
		g := got.evals[k]
		if len(g) != len(w) {
			t.Fatalf("%s: %s evaluated %d times, uninterrupted %d", name, k, len(g), len(w))
		}
		for i := range w {
			if g[i].Step != w[i].Step || (math.Float64bits(g[i].Value) != math.Float64bits(w[i].Value) && !(math.IsNaN(g[i].Value) && math.IsNaN(w[i].Value))) {
				t.Fatalf("%s: %s at step %d = %v, uninterrupted %v at step %d", name, k, g[i].Step, g[i].Value, w[i].Value, w[i].Step)
			}
		}
	}
	for k, w := range want.summaries {
		if !plugins.Reproducible(k) { // a speed: no interruption can reproduce it
			continue
		}
		g, ok := got.summaries[k]
		if !ok || (math.Float64bits(g) != math.Float64bits(w) && !(math.IsNaN(g) && math.IsNaN(w))) {
			t.Fatalf("%s: summary %s = %v, uninterrupted %v (all: %v)", name, k, g, w, got.summaries)
		}
	}
	for k := range got.summaries {
		if _, ok := want.summaries[k]; !ok && plugins.Reproducible(k) {
			t.Fatalf("%s: extra summary %s after recovery", name, k)
		}
	}
}
