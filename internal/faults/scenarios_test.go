package faults

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gctx "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// scenarios are the commands under faults, visited in turn by the plan.
var scenarios = []scenario{runScenario, jobsScenario, jobsRecoverScenario, mergeScenario, rerunScenario, sampleScenario, evalTrainScenario}

var signals = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL}

// evalPhases are the phases after training: those of a run and of a sample run alike.
var evalPhases = []phase{
	{name: "sample", nth: 1, maxDelay: 15 * time.Millisecond},
	{name: "metric.nll", nth: 1, maxDelay: 10 * time.Millisecond},
	{name: "metric.frechet", nth: 1, maxDelay: 2 * time.Millisecond},
	{name: "record", nth: 1, maxDelay: time.Millisecond},
}

// trainPhases are a training run's own phases; the second checkpoint has one before it to
// fall back to.
var trainPhases = []phase{
	{name: "train", nth: 1, maxDelay: 200 * time.Millisecond, stops: true},
	{name: "checkpoint", nth: 2, maxDelay: 2 * time.Millisecond, stops: true},
}

// runScenario is `runner run` of one trial: a fault in any phase of a run, then `run
// --resume` (the same command) finishes it with the numbers of an uninterrupted run, for
// every timestep sampler and loss.
var runScenario = scenario{
	name:    "run",
	phases:  append(append([]phase{}, trainPhases...), evalPhases...),
	signals: signals,
	groups:  []bool{false},
	newCase: func(t *testing.T, s *suite, rng *rand.Rand) *faultCase {
		combo := combos[rng.IntN(len(combos))]
		args := func(db string) []string {
			return append([]string{"run", "-q", s.specPath, "--db", db}, sets(combo)...)
		}
		want := finished(t, s.reference(t, "run "+strings.Join(combo, " "), nil, args))
		return &faultCase{
			label:   strings.Join(combo, " "),
			prepare: func(t *testing.T, dir string) []string { return args(filepath.Join(dir, "runs.db")) },
			check: func(t *testing.T, name, dir string, l landing) {
				db := filepath.Join(dir, "runs.db")
				checkStore(t, name, db)
				mustRun(t, name, dir, append(args(db), "--resume")...)
				complete(t, name, db, want)
			},
		}
	},
}

// evalTrainSets evaluate the metrics every 30 of the 120 steps, keeping the checkpoint of
// the best bound (the samples of this tiny model are not all finite, nor so its frechet).
var evalTrainSets = []string{"eval.every=30", "eval.n_during=32", "train.keep=best:nll_nats_per_dim"}

// evalTrainScenario is `runner run` of a trial evaluated during training ([eval] every,
// train.keep = "best:nll_nats_per_dim"), the fault in its second evaluation (step 60, a
// new best after the first's): `run --resume` finishes it with the loss and evaluation histories,
// the summaries and the kept checkpoint's weights of an uninterrupted run.
var evalTrainScenario = scenario{
	name:    "evaltrain",
	phases:  []phase{{name: "eval", nth: 2, maxDelay: 10 * time.Millisecond, stops: true}},
	signals: signals,
	groups:  []bool{false},
	newCase: func(t *testing.T, s *suite, rng *rand.Rand) *faultCase {
		args := func(db string) []string {
			return append([]string{"run", "-q", s.specPath, "--db", db}, sets(evalTrainSets)...)
		}
		ref := s.reference(t, "run evaltrain", nil, args)
		want := finished(t, ref)
		return &faultCase{
			label:   strings.Join(evalTrainSets, " "),
			prepare: func(t *testing.T, dir string) []string { return args(filepath.Join(dir, "runs.db")) },
			check: func(t *testing.T, name, dir string, l landing) {
				db := filepath.Join(dir, "runs.db")
				checkStore(t, name, db)
				mustRun(t, name, dir, append(args(db), "--resume")...)
				complete(t, name, db, want)
				got, w := bestWeights(t, filepath.Dir(db)), bestWeights(t, filepath.Dir(ref))
				if len(got) != len(w) || len(w) == 0 {
					t.Fatalf("%s: the kept best checkpoint has %d variables, uninterrupted %d", name, len(got), len(w))
				}
				for k, b := range w {
					if !bytes.Equal(got[k], b) {
						t.Fatalf("%s: the kept best checkpoint's %s differs from the uninterrupted run's", name, k)
					}
				}
			},
		}
	},
}

// bestWeights reads the checkpoint that run 1 of the database in dir keeps as its best:
// each variable's bytes by name, less the trainer's moving averages of the loss (GoMLX
// names them anew in each process; no step reads them).
func bestWeights(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	best := filepath.Join(dir, "runs", "1", engine.BestCheckpointDir)
	if names, _ := filepath.Glob(filepath.Join(best, "checkpoint-*.json")); len(names) != 1 {
		t.Fatalf("%s holds %d checkpoints, want 1", best, len(names))
	}
	h, err := checkpoints.Build(gctx.New()).Dir(best).Done()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for name, v := range h.LoadedVariables() {
		if !strings.HasPrefix(name, "var:/metrics/") {
			v.ConstBytes(func(b []byte) { out[name] = bytes.Clone(b) })
		}
	}
	return out
}

// jobsScenario is `runner run --jobs 2` over two seeds, with the signal sent to the parent
// alone or to its whole process group (as Ctrl-C in a terminal does): every process ends,
// and `run --jobs 2 --resume` finishes both runs in the main database, once each, with the
// numbers of `--jobs 1`. The phases are the parent's: waiting on its children, merging
// their shards.
var jobsScenario = scenario{
	name: "jobs",
	phases: []phase{
		{name: "jobs.start", nth: 1, maxDelay: 400 * time.Millisecond, stops: true},
		{name: "jobs.merge", nth: 1, maxDelay: 2 * time.Millisecond},
		{name: "jobs.cleanup", nth: 1, maxDelay: time.Millisecond},
	},
	signals: signals,
	groups:  []bool{false, true},
	newCase: func(t *testing.T, s *suite, rng *rand.Rand) *faultCase {
		args := func(db string) []string {
			return []string{"run", "-q", s.specPath, "--db", db, "--set", "seeds=[0,1]"}
		}
		want := finished(t, s.reference(t, "run seeds 0 1", nil, args))
		return &faultCase{
			label: "seeds 0 1",
			prepare: func(t *testing.T, dir string) []string {
				return append(args(filepath.Join(dir, "runs.db")), "--jobs", "2")
			},
			check: func(t *testing.T, name, dir string, l landing) {
				db := filepath.Join(dir, "runs.db")
				if _, err := os.Stat(db); err == nil {
					checkStore(t, name, db)
				}
				for _, sh := range shardsIn(dir) {
					checkStore(t, name, sh)
				}
				mustRun(t, name, dir, append(args(db), "--jobs", "2", "--resume")...)
				complete(t, name, db, want)
			},
		}
	},
}

// jobsRecoverScenario is a fault in the recovery of a `runner run --jobs 2` killed with its
// children (kill -9 to the group while they train): the next command that runs trials on
// the database merges the scratch folder that run left (phase jobs.recover), here `run
// --jobs 2 --resume`. Whatever the fault, the same command again completes the work. SIGINT
// and SIGTERM stop the recovery after the shard being merged, and the command exits 1.
var jobsRecoverScenario = scenario{
	name:    "jobs-recover",
	phases:  []phase{{name: "jobs.recover", nth: 1, maxDelay: 3 * time.Millisecond, stops: true}},
	signals: signals,
	groups:  []bool{false},
	newCase: func(t *testing.T, s *suite, rng *rand.Rand) *faultCase {
		args := func(db string) []string {
			return []string{"run", "-q", s.specPath, "--db", db, "--set", "seeds=[0,1]", "--jobs", "2"}
		}
		want := finished(t, s.reference(t, "run seeds 0 1", nil, func(db string) []string {
			return []string{"run", "-q", s.specPath, "--db", db, "--set", "seeds=[0,1]"}
		}))
		return &faultCase{
			label: "seeds 0 1",
			prepare: func(t *testing.T, dir string) []string {
				db := filepath.Join(dir, "runs.db")
				pre := filepath.Join(dir, "killed")
				// The children pause at each start of training, so that the kill finds them
				// training however fast the tiny spec's steps are.
				l := fire(t, pre, args(db), aim{phase: "jobs.start", nth: 1, sig: syscall.SIGKILL, group: true,
					delay: 300 * time.Millisecond, hold: map[string]time.Duration{"train": 400 * time.Millisecond}})
				if !l.hit || len(shardsIn(dir)) == 0 {
					t.Fatalf("killing run --jobs with its children left no scratch folder (%s, %s):\n%s", l.exit, l.why, l.output)
				}
				os.RemoveAll(pre)
				return append(args(db), "--resume")
			},
			check: func(t *testing.T, name, dir string, l landing) {
				db := filepath.Join(dir, "runs.db")
				checkStore(t, name, db)
				for _, sh := range shardsIn(dir) {
					checkStore(t, name, sh)
				}
				mustRun(t, name, dir, append(args(db), "--resume")...)
				complete(t, name, db, want)
			},
		}
	},
}

// shardsIn lists the scratch shards of --jobs left in dir's database's artifact folder.
func shardsIn(dir string) []string {
	dbs, _ := filepath.Glob(filepath.Join(dir, "runs", ".jobs*", "*.db"))
	return dbs
}

// mergeScenario is `runner merge` of a shard with two finished runs and an interrupted one
// into a database with a finished run: the main database stays intact and whole whatever
// the fault, the shard is only read, and merging again gives what one uninterrupted merge
// gives, with nothing twice and no half-copied artifact folder left.
var mergeScenario = scenario{
	name: "merge",
	phases: []phase{
		{name: "merge.checking", nth: 1, maxDelay: 2 * time.Millisecond},
		{name: "merge.copying", nth: 1, maxDelay: 5 * time.Millisecond},
		{name: "merge.inserting", nth: 1, maxDelay: 2 * time.Millisecond},
		{name: "merge.renaming", nth: 1, maxDelay: time.Millisecond},
		{name: "merge.cleaning", nth: 1, maxDelay: time.Millisecond},
	},
	signals: signals,
	groups:  []bool{false},
	newCase: func(t *testing.T, s *suite, rng *rand.Rand) *faultCase {
		main := s.template(t, "finished", s.finishedRun)
		shard := s.template(t, "shard", s.shardRuns)
		setup := func(dir string) {
			copyDir(t, main, dir)
			copyDir(t, shard, dir)
		}
		args := func(db string) []string {
			return []string{"merge", "--db", db, filepath.Join(filepath.Dir(db), "shard.db")}
		}
		want := byUID(t, s.reference(t, "merge", setup, args))
		return &faultCase{
			label: "shard of 3 runs",
			prepare: func(t *testing.T, dir string) []string {
				setup(dir)
				return args(filepath.Join(dir, "runs.db"))
			},
			check: func(t *testing.T, name, dir string, l landing) {
				db, sh := filepath.Join(dir, "runs.db"), filepath.Join(dir, "shard.db")
				if a, b := digest(t, sh), digest(t, filepath.Join(shard, "shard.db")); a != b {
					t.Fatalf("%s: merge wrote the shard", name)
				}
				checkStore(t, name, db)
				mustRun(t, name, dir, args(db)...)
				checkStore(t, name, db)
				got := byUID(t, db)
				for uid, w := range want {
					g, ok := got[uid]
					if !ok {
						t.Fatalf("%s: run %s missing after merging again", name, uid)
					}
					same(t, name+": run "+uid, g, w)
				}
				if len(got) != len(want) {
					t.Fatalf("%s: %d runs after merging again, one uninterrupted merge gives %d", name, len(got), len(want))
				}
				noStrays(t, name, db)
				checkArtifacts(t, name, db)
			},
		}
	},
}

// rerunScenario is `runner rerun 1 --verify` of a finished run: a fault anywhere, in the
// verification too, leaves no verdict but a true one ("pending" until the rerun ends), and
// `runner resume` on the rerun (or, if it was killed before its first checkpoint, the
// command again) finishes it with the verdict "identical" and the original's numbers.
var rerunScenario = scenario{
	name:    "rerun",
	phases:  append(append(append([]phase{}, trainPhases...), evalPhases...), phase{name: "verify", nth: 1, maxDelay: time.Millisecond}),
	signals: signals,
	groups:  []bool{false},
	newCase: func(t *testing.T, s *suite, rng *rand.Rand) *faultCase {
		tmpl := s.template(t, "finished", s.finishedRun)
		return &faultCase{
			label: "of run 1",
			prepare: func(t *testing.T, dir string) []string {
				copyDir(t, tmpl, dir)
				return []string{"rerun", "1", "--verify", "-q", "--db", filepath.Join(dir, "runs.db")}
			},
			check: func(t *testing.T, name, dir string, l landing) {
				db := filepath.Join(dir, "runs.db")
				checkStore(t, name, db)
				checkVerdicts(t, name, db, false)
				for _, r := range runsOf(t, db) {
					if r.Env["rerun.of"] == "1" && r.Status != results.StatusFailed && r.Env["rerun.verdict"] != "identical" {
						mustRun(t, name, dir, "resume", strconv.FormatInt(r.ID, 10), "-q", "--db", db)
					}
				}
				if n := countReruns(t, db); n == 0 {
					mustRun(t, name, dir, "rerun", "1", "--verify", "-q", "--db", db)
				}
				checkStore(t, name, db)
				checkVerdicts(t, name, db, true)
			},
		}
	},
}

// sampleScenario is `runner sample 1` of a finished run: a fault in any of its phases
// leaves the parent untouched, and `runner resume` on the sample run finishes it with the
// numbers of an uninterrupted sample run.
var sampleScenario = scenario{
	name:    "sample",
	phases:  append([]phase{{name: "copy", nth: 1, maxDelay: time.Millisecond}}, evalPhases...),
	signals: signals,
	groups:  []bool{false},
	newCase: func(t *testing.T, s *suite, rng *rand.Rand) *faultCase {
		tmpl := s.template(t, "finished", s.finishedRun)
		args := func(db string) []string { return []string{"sample", "1", "-q", "--db", db} }
		want := finished(t, s.reference(t, "sample", func(dir string) { copyDir(t, tmpl, dir) }, args))
		return &faultCase{
			label: "of run 1",
			prepare: func(t *testing.T, dir string) []string {
				copyDir(t, tmpl, dir)
				return args(filepath.Join(dir, "runs.db"))
			},
			check: func(t *testing.T, name, dir string, l landing) {
				db := filepath.Join(dir, "runs.db")
				checkStore(t, name, db)
				for _, r := range runsOf(t, db) {
					if r.Env["kind"] == "sample" && r.Status == results.StatusInterrupted {
						mustRun(t, name, dir, "resume", strconv.FormatInt(r.ID, 10), "-q", "--db", db)
					}
				}
				complete(t, name, db, want)
			},
		}
	},
}

// finishedRun makes the database of the rerun and sample scenarios: one finished run.
func (s *suite) finishedRun(t *testing.T, dir string) {
	mustRun(t, "template", dir, "run", "-q", s.specPath, "--db", filepath.Join(dir, "runs.db"))
}

// shardRuns makes the shard of the merge scenario: seeds 1 and 2 finished, seed 3
// interrupted with a checkpoint.
func (s *suite) shardRuns(t *testing.T, dir string) {
	db := filepath.Join(dir, "shard.db")
	mustRun(t, "template", dir, "run", "-q", s.specPath, "--db", db, "--set", "seeds=[1,2]")
	l := fire(t, dir, []string{"run", "-q", s.specPath, "--db", db, "--set", "seeds=[3]"},
		aim{phase: "train", nth: 2, sig: syscall.SIGTERM})
	if runs := runsOf(t, db); len(runs) != 3 || runs[2].Status != results.StatusInterrupted {
		t.Fatalf("template shard: the third run is not interrupted (%s):\n%s", l.exit, l.output)
	}
	os.RemoveAll(filepath.Join(dir, "trace"))
}

func mustRun(t *testing.T, name, dir string, args ...string) {
	t.Helper()
	if out, err := runner(dir, args...); err != nil {
		t.Fatalf("%s: runner %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func runsOf(t *testing.T, db string) []*results.Run {
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
	return runs
}

func countReruns(t *testing.T, db string) int {
	n := 0
	for _, r := range runsOf(t, db) {
		if r.Env["rerun.of"] == "1" && r.Status == results.StatusFinished {
			n++
		}
	}
	return n
}

// checkVerdicts checks that every rerun of run 1 says only what is true: a verdict is
// "identical" (the runs are the same), or "pending" while the rerun has not finished. Once
// done, exactly one rerun has finished, verified identical, with run 1's numbers bit for
// bit, and none is left interrupted; run 1 is as it was.
func checkVerdicts(t *testing.T, name, db string, done bool) {
	t.Helper()
	runs := runsOf(t, db)
	var orig *results.Run
	var reruns []*results.Run
	for _, r := range runs {
		switch {
		case r.ID == 1:
			orig = r
		case r.Env["rerun.of"] == "1":
			reruns = append(reruns, r)
		default:
			t.Fatalf("%s: run %d is neither run 1 nor its rerun", name, r.ID)
		}
	}
	if orig == nil || orig.Status != results.StatusFinished {
		t.Fatalf("%s: run 1 is no longer finished", name)
	}
	want := outcomeOf(t, db, 1)
	fin := 0
	for _, r := range reruns {
		v := r.Env["rerun.verdict"]
		if v != "identical" && v != "pending" {
			t.Fatalf("%s: rerun %d (%s) has the verdict %q", name, r.ID, r.Status, v)
		}
		if v == "identical" && r.Status != results.StatusFinished {
			t.Fatalf("%s: rerun %d is %s with the verdict %q", name, r.ID, r.Status, v)
		}
		if !done {
			continue
		}
		switch r.Status {
		case results.StatusFinished:
			fin++
			if v != "identical" {
				t.Fatalf("%s: rerun %d finished with the verdict %q", name, r.ID, v)
			}
			same(t, fmt.Sprintf("%s: rerun %d", name, r.ID), outcomeOf(t, db, r.ID), want)
		case results.StatusFailed:
		default:
			t.Fatalf("%s: rerun %d is %s after recovery", name, r.ID, r.Status)
		}
	}
	if done && fin != 1 {
		t.Fatalf("%s: %d finished reruns of run 1 after recovery, want 1", name, fin)
	}
}
