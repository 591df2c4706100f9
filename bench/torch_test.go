package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
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
	best, note := benchTorch("bench/torch_mlp.py", 512, 0, "cpu", 3, nil)
	if best.threads != 2 || best.stepsPerSec != 55 {
		t.Fatalf("best = %d threads at %g steps/s, want 2 threads at 55 (the best median); note %q", best.threads, best.stepsPerSec, note)
	}
	if !strings.Contains(note, "medians of 3 runs") || !strings.Contains(note, "blas fake") {
		t.Fatalf("note %q", note)
	}
}

// TestBenchTorchCallsBeforeEachRun: the caller's function runs before each of the replica's
// runs, so that the two are timed in the same minutes, and not at all without torch.
func TestBenchTorchCallsBeforeEachRun(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	script := "#!/bin/sh\nif [ \"$1\" = \"-c\" ]; then exit 0; fi\necho torch >> " + log + "\necho \"batch 32 threads 2: 9 steps/s\"\n"
	if err := os.WriteFile(filepath.Join(dir, "python3"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	before := func() {
		f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(f, "ours")
		f.Close()
	}
	if best, note := benchTorch("bench/torch_unet.py", 32, 0, "cpu", 3, before); best.stepsPerSec != 9 {
		t.Fatalf("best %+v, note %q", best, note)
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("ours\ntorch\n", 3); string(got) != want {
		t.Fatalf("order of runs:\n%s\nwant\n%s", got, want)
	}
	t.Setenv(PythonEnv, filepath.Join(dir, "absent"))
	called := false
	benchTorch("bench/torch_unet.py", 32, 0, "cpu", 3, func() { called = true })
	if called {
		t.Fatal("before ran although no python here has torch")
	}
}

// TestBenchTorchUsesThePythonNamed: $DDPM_BENCH_PYTHON names the interpreter, whatever
// python3 on PATH is; the note of a missing one names what was tried.
func TestBenchTorchUsesThePythonNamed(t *testing.T) {
	dir := t.TempDir()
	named := filepath.Join(dir, "my-python")
	script := "#!/bin/sh\nif [ \"$1\" = \"-c\" ]; then exit 0; fi\necho \"batch 32 threads 1: 7 steps/s\"\n"
	if err := os.WriteFile(named, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// A python3 on PATH that cannot import torch must not be asked.
	if err := os.WriteFile(filepath.Join(dir, "python3"), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(PythonEnv, named)
	best, note := benchTorch("bench/torch_unet_ddpm.py", 32, 0, "cpu", 1, nil)
	if best.threads != 1 || best.stepsPerSec != 7 {
		t.Fatalf("best = %d threads at %g steps/s, want 1 thread at 7 (from %s); note %q", best.threads, best.stepsPerSec, named, note)
	}
	t.Setenv(PythonEnv, filepath.Join(dir, "absent"))
	if best, note := benchTorch("bench/torch_unet_ddpm.py", 32, 0, "cpu", 1, nil); best.stepsPerSec != 0 ||
		!strings.Contains(note, "absent") || !strings.Contains(note, PythonEnv) {
		t.Fatalf("with an absent interpreter: %+v, note %q", best, note)
	}
}

// TestReplicasHaveTheRunnersParameterCount: each PyTorch U-Net replica builds a network with
// exactly the runner's parameter count for its config (the check `runner bench` makes with
// --params, here without timing anything). Skips where no python can import torch.
func TestReplicasHaveTheRunnersParameterCount(t *testing.T) {
	py := ""
	for _, p := range pythons() {
		if exec.Command(p, "-c", "import torch").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Skip("no python here can import torch")
	}
	for _, c := range []struct{ config, module, class string }{
		{"mnist_unet", "torch_unet", "UNet"}, {"mnist_unet_ddpm", "torch_unet_ddpm", "UNetDDPM"},
	} {
		t.Run(c.config, func(t *testing.T) {
			trials, err := spec.Parse(c.config+".toml", []byte(Named(c.config)), nil)
			if err != nil {
				t.Fatal(err)
			}
			job, err := engine.Prepare(trials[0])
			if err != nil {
				t.Fatal(err)
			}
			want, _ := job.Net.(plugins.SizedNetwork).Size(job.Data.Dim(), job.Data.Dim()*job.Diffusion.OutputMultiplier())
			cmd := exec.Command(py, "-c", fmt.Sprintf("import %s as m; print(sum(p.numel() for p in m.%s().parameters()))", c.module, c.class))
			cmd.Dir = "."
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != strconv.FormatInt(want, 10) {
				t.Fatalf("bench/%s.py's %s has %s parameters, the runner's %s network %d", c.module, c.class, got, c.config, want)
			}
		})
	}
}
