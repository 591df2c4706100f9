package faults

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	iterations = flag.Int("faults.n", 12, "fault-injection iterations (each cell of the plan is visited in turn)")
	seed       = flag.Uint64("faults.seed", 0, "random seed of the fault plan (0: from the clock)")
	only       = flag.String("faults.cells", "", "only the cells whose name matches this regular expression")
	every      = flag.Bool("faults.every", false, "as many iterations as there are cells, so that each is visited once (overrides -faults.n)")
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

// phase is where a scenario's faults land: the nth start of the phase in the command's own
// process, then a random delay of at most maxDelay.
type phase struct {
	name     string
	nth      int
	maxDelay time.Duration
	// stops: a SIGINT or SIGTERM that lands here stops the command, which exits 1. Only
	// phases with a long stretch of stoppable work after them are marked: the command's
	// own handler may see a signal some milliseconds after it arrived (a goroutine waiting
	// for a processor), past the last point where it would still stop.
	stops bool
}

// scenario is one command under faults: every phase x signal x target of it is a cell of
// the plan.
type scenario struct {
	name    string
	phases  []phase
	signals []syscall.Signal
	groups  []bool // whom the signal goes to: the command's process (false), its whole group (true)
	// newCase prepares what an iteration of this scenario shares over its attempts.
	newCase func(t *testing.T, s *suite, rng *rand.Rand) *faultCase
}

// faultCase is one iteration's command: prepare makes a fresh folder ready and returns the
// command's arguments; check, after the fault, checks the invariants, completes the work
// and compares it with an uninterrupted reference.
type faultCase struct {
	label   string
	prepare func(t *testing.T, dir string) []string
	check   func(t *testing.T, name, dir string, l landing)
}

// cell is one planned kind of fault.
type cell struct {
	scenario *scenario
	phase    phase
	sig      syscall.Signal
	group    bool
}

func (c cell) String() string {
	return fmt.Sprintf("%s %s %s to %s", c.scenario.name, c.phase.name, sigName(c.sig), target(c.group))
}

// Retries of a fault that missed its phase: first with no delay, then with the phase
// lengthened by a pause of the runner ($DDPM_TRACE_PAUSE) and a delay inside it.
const (
	maxAttempts = 6
	firstPause  = 20 * time.Millisecond
)

func attemptAim(c cell, k int, first time.Duration, rng *rand.Rand) aim {
	a := aim{phase: c.phase.name, nth: c.phase.nth, sig: c.sig, group: c.group, delay: first}
	switch {
	case k == 1:
		a.delay = 0
	case k >= 2:
		a.pause = firstPause << (k - 2)
		a.delay = time.Duration(rng.Int64N(int64(a.pause / 2)))
	}
	return a
}

// tally is a cell's count: hits, the attempts that missed, and the iterations that failed.
type tally struct {
	hits, misses, failed int
	exits                map[string]int
}

func TestFaults(t *testing.T) {
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("fault plan seed %d (rerun with -faults.seed %d)", s, s)
	rng := rand.New(rand.NewPCG(s, 1))
	su := newSuite(t)
	n := *iterations
	if *every {
		n = -1
	}
	plan := planCells(rng, n, *only)
	tallies := map[string]*tally{}
	var order []string
	start := time.Now()
	for i, c := range plan {
		key := c.String()
		tl := tallies[key]
		if tl == nil {
			tl = &tally{exits: map[string]int{}}
			tallies[key] = tl
			order = append(order, key)
		}
		fc := c.scenario.newCase(t, su, rng)
		first := time.Duration(rng.Int64N(int64(c.phase.maxDelay) + 1))
		for k := range maxAttempts {
			a := attemptAim(c, k, first, rng)
			name := fmt.Sprintf("%d.%d %s: %s %v", i, k, c.scenario.name, fc.label, a)
			dir := filepath.Join(su.work, fmt.Sprintf("it%d-%d", i, k))
			var l landing
			// Each attempt is a subtest: one that fails is counted, and the plan goes on.
			ok := t.Run(fmt.Sprintf("%d.%d", i, k), func(t *testing.T) {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				l = fire(t, dir, fc.prepare(t, dir), a)
				if l.hit && c.sig != syscall.SIGKILL && strings.HasPrefix(l.exit, "killed") {
					// SIGINT and SIGTERM are handled in every phase: the command ends with an
					// exit status. (After its last phase, as it exits, one may end it.)
					t.Fatalf("%s: %s\ntrace:\n%s\noutput:\n%s", name, l.exit, strings.Join(l.trace, "\n"), l.output)
				}
				if l.hit && c.sig != syscall.SIGKILL && c.phase.stops && l.exit != "exit 1" {
					t.Fatalf("%s: %s, not stopped (exit 1)\ntrace:\n%s\noutput:\n%s", name, l.exit, strings.Join(l.trace, "\n"), l.output)
				}
				// Every attempt is a fault somewhere: the invariants hold whether it hit or not.
				fc.check(t, name, dir, l)
				if !l.hit {
					t.Logf("%s: missed (%s): %s", name, l.exit, l.why)
				}
			})
			if !ok {
				tl.failed++
				break
			}
			if !l.hit {
				tl.misses++
				continue
			}
			tl.hits++
			tl.exits[l.exit]++
			os.RemoveAll(dir)
			break
		}
	}
	t.Logf("%d iterations in %v; per phase x signal x target: hits, misses (attempts whose signal landed elsewhere, retried), failed iterations:", len(plan), time.Since(start).Round(time.Second))
	t.Logf("%5s %6s %6s  %-52s %s", "hits", "misses", "failed", "cell", "how the command ended")
	for _, k := range order {
		tl := tallies[k]
		var ex []string
		for e, n := range tl.exits {
			ex = append(ex, fmt.Sprintf("%s: %d", e, n))
		}
		sort.Strings(ex)
		t.Logf("%5d %6d %6d  %-52s %s", tl.hits, tl.misses, tl.failed, k, strings.Join(ex, ", "))
	}
	for _, k := range order {
		if tl := tallies[k]; tl.hits == 0 && tl.failed == 0 {
			t.Errorf("cell %q: no fault landed in its phase in %d attempts", k, tl.misses)
		}
	}
}

// planCells is the plan of n iterations (n < 0: as many as there are cells). Each scenario
// comes in proportion to its number of cells: the next iteration goes to the scenario whose
// visits are fewest for its cells (the first ones to each scenario in turn), and within a
// scenario its cells come in a shuffled order, each once before any twice. So n of at
// least the number of cells visits every cell, and every n of at least the number of
// scenarios visits every scenario.
func planCells(rng *rand.Rand, n int, only string) []cell {
	re, err := regexp.Compile(only)
	if err != nil {
		panic(fmt.Sprintf("-faults.cells: %v", err))
	}
	var per [][]cell
	total := 0
	for i := range scenarios {
		sc := &scenarios[i]
		var cs []cell
		for _, p := range sc.phases {
			for _, sig := range sc.signals {
				for _, g := range sc.groups {
					c := cell{scenario: sc, phase: p, sig: sig, group: g}
					if re.MatchString(c.String()) {
						cs = append(cs, c)
					}
				}
			}
		}
		rng.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
		if len(cs) > 0 {
			per = append(per, cs)
			total += len(cs)
		}
	}
	if n < 0 {
		n = total
	}
	visits := make([]int, len(per))
	var plan []cell
	for len(plan) < n && len(per) > 0 {
		next := 0
		for j := range per {
			// visits[j]/len(per[j]) < visits[next]/len(per[next]), in integers
			if visits[j]*len(per[next]) < visits[next]*len(per[j]) {
				next = j
			}
		}
		cs := per[next]
		plan = append(plan, cs[visits[next]%len(cs)])
		visits[next]++
	}
	return plan
}
