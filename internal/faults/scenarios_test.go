package faults

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runScenario is `runner run` of one trial: a fault in any phase of a run, then `run
// --resume` (the same command) finishes it with the numbers of an uninterrupted run, for
// every timestep sampler and loss.
var runScenario = scenario{
	name: "run",
	phases: []phase{
		{"train", 1, 200 * time.Millisecond},
		{"checkpoint", 2, 2 * time.Millisecond},
		{"sample", 1, 15 * time.Millisecond},
		{"metric.nll", 1, 10 * time.Millisecond},
		{"metric.frechet", 1, 2 * time.Millisecond},
		{"record", 1, time.Millisecond},
	},
	signals: signals,
	groups:  []bool{false},
	newCase: func(t *testing.T, s *suite, rng *rand.Rand) *faultCase {
		combo := combos[rng.IntN(len(combos))]
		args := func(db string) []string {
			return append([]string{"run", "-q", s.specPath, "--db", db}, sets(combo)...)
		}
		want := s.reference(t, "run "+strings.Join(combo, " "), nil, args)
		return &faultCase{
			label:   strings.Join(combo, " "),
			prepare: func(t *testing.T, dir string) []string { return args(filepath.Join(dir, "runs.db")) },
			check: func(t *testing.T, name, dir string, l landing) {
				db := filepath.Join(dir, "runs.db")
				checkStore(t, name, db)
				if out, err := runner(dir, append(args(db), "--resume")...); err != nil {
					t.Fatalf("%s: run --resume: %v\n%s", name, err, out)
				}
				complete(t, name, db, want)
			},
		}
	},
}
