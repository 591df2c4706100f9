package faults

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// suite is what the iterations share: the work folder, the spec, and the uninterrupted
// references, each computed once.
type suite struct {
	work     string
	specPath string
	mu       sync.Mutex
	refs     map[string]map[key]outcome
}

func newSuite(t *testing.T) *suite {
	work := t.TempDir()
	specPath := filepath.Join(work, "faults.toml")
	if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return &suite{work: work, specPath: specPath, refs: map[string]map[key]outcome{}}
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
	kind      string
	losses    []float64
	summaries map[string]float64
}

// reference runs build(db) once, uninterrupted, in a folder of its own (setup, if not nil,
// prepares it first), and returns the finished runs of db by key.
func (s *suite) reference(t *testing.T, name string, setup func(dir string), build func(db string) []string) map[key]outcome {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.refs[name]; ok {
		return o
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
	s.refs[name] = finished(t, db)
	return s.refs[name]
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
		h, err := s.History(r.ID, "loss")
		if err != nil {
			t.Fatal(err)
		}
		o := outcome{kind: r.Env["kind"], summaries: r.Summaries}
		for _, p := range h {
			o.losses = append(o.losses, p.Value)
		}
		out[k] = o
	}
	return out
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

// timeDependent summaries measure speed, which no interruption can reproduce.
var timeDependent = map[string]bool{"steps_per_sec": true, "samples_per_sec": true, "seconds_per_sample": true}

func same(t *testing.T, name string, got, want outcome) {
	t.Helper()
	if len(got.losses) != len(want.losses) {
		t.Fatalf("%s: %d losses, uninterrupted %d", name, len(got.losses), len(want.losses))
	}
	for i := range want.losses {
		if math.Float64bits(got.losses[i]) != math.Float64bits(want.losses[i]) {
			t.Fatalf("%s: loss %d = %v, uninterrupted %v", name, i+1, got.losses[i], want.losses[i])
		}
	}
	for k, w := range want.summaries {
		if timeDependent[k] {
			continue
		}
		g, ok := got.summaries[k]
		if !ok || (math.Float64bits(g) != math.Float64bits(w) && !(math.IsNaN(g) && math.IsNaN(w))) {
			t.Fatalf("%s: summary %s = %v, uninterrupted %v (all: %v)", name, k, g, w, got.summaries)
		}
	}
	for k := range got.summaries {
		if _, ok := want.summaries[k]; !ok && !timeDependent[k] {
			t.Fatalf("%s: extra summary %s after recovery", name, k)
		}
	}
}
