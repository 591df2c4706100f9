package cli

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// TestPaperSpecsSmoke runs the CPU smoke version of each paper spec, exactly as the --set
// line in its header gives it, on small CIFAR-10 files written in the official binary layout
// (random pixels: the test checks that the papers' configurations train, sample and
// evaluate end to end, not what they learn).
func TestPaperSpecsSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two U-Nets with attention (-short)")
	}
	if backend.DefaultKernel.Resolved() == backend.StockKernel {
		// GoMLX's own loops take minutes a step on these networks; the stock kernel's
		// correctness is what the other tests check in that mode.
		t.Skipf("$%s turns the fast kernels off: too slow for the papers' U-Nets", backend.KernelEnvVar)
	}
	data := writeCIFAR10Bin(t, 24)
	for _, name := range []string{"ddpm_cifar10", "iddpm_cifar10"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("..", "experiments", name+".toml")
			sets := smokeSets(t, path)
			db := filepath.Join(t.TempDir(), "runs.db")
			args := []string{"run", path, "--db", db, "-q", "--set", "data.dir=" + data}
			for _, s := range sets {
				args = append(args, "--set", s)
			}
			if code, _, stderr := runCLI(t, args...); code != 0 {
				t.Fatalf("smoke run of %s (%v): exit %d\n%s", name, sets, code, stderr)
			}
			store, err := results.Open(db)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			runs, err := store.Runs(results.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 1 || runs[0].Status != results.StatusFinished {
				t.Fatalf("want one finished run, got %+v", runs)
			}
		})
	}
}

// smokeSets reads the --set arguments of the "CPU smoke version" command in a spec's header.
func smokeSets(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var command []string
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# CPU smoke version"):
			in = true
		case in && strings.HasPrefix(line, "#   "):
			command = append(command, strings.Fields(strings.TrimSuffix(strings.TrimPrefix(line, "#"), `\`))...)
		case in:
			in = false
		}
	}
	var sets []string
	for i, w := range command {
		if w == "--set" && i+1 < len(command) {
			sets = append(sets, strings.Trim(command[i+1], "'"))
		}
	}
	if len(sets) == 0 {
		t.Fatalf("%s: no CPU smoke command (# CPU smoke version ... followed by #   runner run ... --set k=v lines)", path)
	}
	return sets
}

// writeCIFAR10Bin writes cifar-10-batches-bin with n random images in each of the five
// training files and the test file (records of a label byte and 3072 pixel bytes).
func writeCIFAR10Bin(t *testing.T, n int) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "cifar-10-batches-bin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	files := []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"}
	for _, name := range files {
		buf := make([]byte, n*3073)
		for i := range buf {
			buf[i] = byte(rng.IntN(256))
		}
		for r := range n {
			buf[r*3073] = byte(r % 10)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
