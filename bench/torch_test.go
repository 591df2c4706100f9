package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchTorchTakesTheBestMedian runs benchTorch against a stand-in python3 whose three
// runs print different rates: the result must be the thread setting with the best median
// (not the best single run), and the note must say how many runs it is over.
func TestBenchTorchTakesTheBestMedian(t *testing.T) {
	dir := t.TempDir()
	counter := filepath.Join(dir, "count")
	// Runs 1-3: 1 thread 50, 90, 52 (median 52); 2 threads 60, 20, 55 (median 55). The best
	// single run (90, 1 thread) would win if the runs were not summarised by medians.
	script := `#!/bin/sh
if [ "$1" = "-c" ]; then exit 0; fi
n=$(cat ` + counter + ` 2>/dev/null || echo 0); n=$((n+1)); echo $n > ` + counter + `
case $n in
1) echo "batch 512 threads 1: 50 steps/s"; echo "batch 512 threads 2: 60 steps/s";;
2) echo "batch 512 threads 1: 90 steps/s"; echo "batch 512 threads 2: 20 steps/s";;
3) echo "blas fake"; echo "batch 512 threads 1: 52 steps/s"; echo "batch 512 threads 2: 55 steps/s";;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "python3"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	best, note := benchTorch("bench/torch_mlp.py", 512, 0, "cpu", 3)
	if best.threads != 2 || best.stepsPerSec != 55 {
		t.Fatalf("best = %d threads at %g steps/s, want 2 threads at 55 (the best median); note %q", best.threads, best.stepsPerSec, note)
	}
	if !strings.Contains(note, "medians of 3 runs") || !strings.Contains(note, "blas fake") {
		t.Fatalf("note %q", note)
	}
}
