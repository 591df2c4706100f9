package faults

import (
	"math/rand/v2"
	"testing"
)

// TestPlan pins the plan's coverage: every cell once with -faults.every, every scenario in
// the first iterations, and cells visited evenly over a long run.
func TestPlan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := planCells(rng, -1, "")
	seen := map[string]int{}
	for _, c := range all {
		seen[c.String()]++
	}
	cells := 0
	for _, sc := range scenarios {
		cells += len(sc.phases) * len(sc.signals) * len(sc.groups)
	}
	if len(all) != cells || len(seen) != cells {
		t.Fatalf("every: %d iterations over %d distinct cells, want each of %d once", len(all), len(seen), cells)
	}
	first := map[string]bool{}
	for _, c := range planCells(rng, len(scenarios), "") {
		first[c.scenario.name] = true
	}
	if len(first) != len(scenarios) {
		t.Errorf("the first %d iterations visit %d scenarios", len(scenarios), len(first))
	}
	seen = map[string]int{}
	for _, c := range planCells(rng, 200, "") {
		seen[c.String()]++
	}
	for k, n := range seen {
		if n < 200/cells || n > 200/cells+1 {
			t.Errorf("200 iterations visit %s %d times, want %d or %d", k, n, 200/cells, 200/cells+1)
		}
	}
	if len(seen) != cells {
		t.Errorf("200 iterations visit %d of %d cells", len(seen), cells)
	}
	for _, c := range planCells(rng, 50, "^merge ") {
		if c.scenario.name != "merge" {
			t.Fatalf("-faults.cells ^merge planned %s", c)
		}
	}
}
