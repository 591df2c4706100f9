package faults

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddpm-runner/ddpm-runner/results"
)

var (
	iterations = flag.Int("faults.n", 12, "fault-injection iterations")
	seed       = flag.Uint64("faults.seed", 0, "random seed of the fault plan (0: from the clock)")
)

// runnerBin is the runner built once for the suite.
var runnerBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "faults-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runnerBin = filepath.Join(dir, "runner")
	build := exec.Command("go", "build", "-o", runnerBin, "github.com/ddpm-runner/ddpm-runner/runner")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the runner:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
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

// combos are the settings every fault is tried with: each timestep sampler (the default
// first) with each loss.
var combos = [][]string{
	{"loss.timesteps=uniform", "loss.name=simple"},
	{"loss.timesteps=uniform", "loss.name=vlb"},
	{"loss.timesteps=uniform", "loss.name=hybrid"},
	{"loss.timesteps=importance", "loss.name=simple"},
	{"loss.timesteps=importance", "loss.name=vlb"},
	{"loss.timesteps=importance", "loss.name=hybrid"},
}

// phases are where a fault lands, and how long after the phase begins (at most).
var phases = []struct {
	name     string
	maxDelay time.Duration
	nth      int // which occurrence of the phase
}{
	{"train", 200 * time.Millisecond, 1},
	{"checkpoint", 3 * time.Millisecond, 2},
	{"sample", 30 * time.Millisecond, 1},
	{"metric.nll", 30 * time.Millisecond, 1},
	{"metric.frechet", 5 * time.Millisecond, 1},
	{"record", 2 * time.Millisecond, 1},
}

var signals = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL}

type outcome struct {
	losses    []float64
	summaries map[string]float64
}

func TestFaults(t *testing.T) {
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("fault plan seed %d (rerun with -faults.seed %d)", s, s)
	rng := rand.New(rand.NewPCG(s, 1))
	work := t.TempDir()
	specPath := filepath.Join(work, "faults.toml")
	if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	refs := map[int]outcome{}
	reference := func(c int) outcome {
		if o, ok := refs[c]; ok {
			return o
		}
		db := filepath.Join(work, fmt.Sprintf("ref%d.db", c))
		if out, err := runner(append([]string{"run", "-q", specPath, "--db", db}, sets(combos[c])...)...); err != nil {
			t.Fatalf("reference run %v: %v\n%s", combos[c], err, out)
		}
		refs[c] = read(t, db)
		return refs[c]
	}
	counts := map[string]int{}
	for i := range *iterations {
		c := rng.IntN(len(combos))
		ph := phases[rng.IntN(len(phases))]
		sig := signals[rng.IntN(len(signals))]
		delay := time.Duration(rng.Int64N(int64(ph.maxDelay) + 1))
		name := fmt.Sprintf("%d %s %v at %s+%v", i, strings.Join(combos[c], " "), sig, ph.name, delay)
		want := reference(c)
		db := filepath.Join(work, fmt.Sprintf("it%d", i), "runs.db")
		status := inject(t, name, specPath, db, combos[c], ph.name, ph.nth, delay, sig)
		counts[ph.name+" "+sig.String()+" -> "+status]++
		checkInvariants(t, name, db)
		r := runRecord(t, db)
		switch r.Status {
		case results.StatusFinished:
		case results.StatusInterrupted:
			if out, err := runner("resume", "1", "-q", "--db", db); err != nil {
				t.Fatalf("%s: resume: %v\n%s", name, err, out)
			}
		case results.StatusFailed:
			// Only a kill before the first checkpoint may leave a run that cannot resume.
			if sig != syscall.SIGKILL || !strings.Contains(r.Error, "no checkpoint") {
				t.Fatalf("%s: run failed: %s", name, r.Error)
			}
			continue
		default:
			t.Fatalf("%s: run recorded as %s", name, r.Status)
		}
		got := read(t, db)
		same(t, name, got, want)
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%4d  %s", counts[k], k)
	}
}

func sets(kv []string) []string {
	var out []string
	for _, s := range kv {
		out = append(out, "--set", s)
	}
	return out
}

func runner(args ...string) (string, error) {
	out, err := exec.Command(runnerBin, args...).CombinedOutput()
	return string(out), err
}

// inject starts a run, waits for the nth start of the phase, sleeps delay, sends sig and
// waits for the process to end. It returns how the process ended, for the tally.
func inject(t *testing.T, name, specPath, db string, combo []string, phase string, nth int, delay time.Duration, sig syscall.Signal) string {
	t.Helper()
	cmd := exec.Command(runnerBin, append([]string{"run", "-q", specPath, "--db", db}, sets(combo)...)...)
	cmd.Env = append(os.Environ(), "DDPM_TRACE_PHASES=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sent := make(chan bool, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		seen := 0
		fired := false
		for sc.Scan() {
			line := sc.Text()
			log.WriteString(line + "\n")
			if !fired && line == "phase: "+phase {
				if seen++; seen == nth {
					fired = true
					time.Sleep(delay)
					_ = cmd.Process.Signal(sig)
					sent <- true
				}
			}
		}
		if !fired {
			sent <- false
		}
	}()
	fired := <-sent
	err = cmd.Wait()
	if !fired {
		t.Fatalf("%s: the run ended without reaching phase %s (%v):\n%s", name, phase, err, log.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed"
		}
		// SIGINT and SIGTERM must be honoured promptly with an exit status, not by dying.
		return fmt.Sprintf("exit %d", ee.ExitCode())
	}
	return "exit 0"
}

// checkInvariants opens the database after the fault: integrity, and every status true.
func checkInvariants(t *testing.T, name, db string) {
	t.Helper()
	// Any command that opens the database for writing records crashed runs first.
	if out, err := runner("report", "--db", db, "--format", "json"); err != nil {
		t.Fatalf("%s: report after the fault: %v\n%s", name, err, out)
	}
	s, err := results.Open(db)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer s.Close()
	var ok string
	if err := s.DB.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("%s: integrity_check: %q %v", name, ok, err)
	}
	runs, err := s.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		dir := filepath.Join(s.ArtifactRoot(), fmt.Sprint(r.ID))
		bins, _ := filepath.Glob(filepath.Join(dir, "checkpoint", "checkpoint-*.bin"))
		switch r.Status {
		case results.StatusRunning:
			t.Fatalf("%s: run %d is recorded as running, but its process has ended", name, r.ID)
		case results.StatusFinished:
			if _, ok := r.Summaries["final_loss"]; !ok || len(r.Summaries) < 5 {
				t.Fatalf("%s: run %d finished with summaries %v", name, r.ID, r.Summaries)
			}
		case results.StatusInterrupted:
			if len(bins) == 0 {
				t.Fatalf("%s: run %d interrupted without a checkpoint", name, r.ID)
			}
		}
	}
}

func runRecord(t *testing.T, db string) *results.Run {
	t.Helper()
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Run(1)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// read returns run 1's loss history and summaries; it must have finished.
func read(t *testing.T, db string) outcome {
	t.Helper()
	r := runRecord(t, db)
	if r.Status != results.StatusFinished {
		t.Fatalf("%s: run 1 is %s: %s", db, r.Status, r.Error)
	}
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.History(1, "loss")
	if err != nil {
		t.Fatal(err)
	}
	o := outcome{summaries: r.Summaries}
	for _, p := range h {
		o.losses = append(o.losses, p.Value)
	}
	return o
}

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
			b, _ := json.Marshal(got.summaries)
			t.Fatalf("%s: summary %s = %v, uninterrupted %v (all: %s)", name, k, g, w, b)
		}
	}
	for k := range got.summaries {
		if _, ok := want.summaries[k]; !ok && !timeDependent[k] {
			t.Fatalf("%s: extra summary %s after resume", name, k)
		}
	}
}
