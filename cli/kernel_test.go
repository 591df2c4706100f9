package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// TestBackendGoStockNamesTheKernel: --backend go:stock runs the stock kernel as
// --fast-matmul=false does, records it, and keeps the trial as it is (backend "go", the same
// hash), so that a database's runs of either compare and resume; rerun --verify follows it;
// a name and a flag that disagree are refused before anything runs.
func TestBackendGoStockNamesTheKernel(t *testing.T) {
	t.Setenv(backend.KernelEnvVar, "1")
	if k := backend.KernelName(backend.DefaultKernel); !strings.HasPrefix(k, "fastdot") {
		t.Skipf("no fast kernel here: %s", k)
	}
	dir := t.TempDir()
	spec := writeFile(t, dir, "quick.toml", quickSpec)
	db := filepath.Join(dir, "runs.db")
	for _, args := range [][]string{{"--backend", "go:stock"}, {"--fast-matmul=false"}, {}} {
		if code, _, errOut := runCLI(t, append([]string{"run", "-q", spec, "--db", db}, args...)...); code != 0 {
			t.Fatalf("run %v: exit %d %s", args, code, errOut)
		}
	}
	store, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	var runs [3]*results.Run
	for i := range runs {
		if runs[i], err = store.Run(int64(i + 1)); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	for i, r := range runs {
		if r.Backend != "go" || r.Env["backend"] != "go" || r.Hash != runs[0].Hash {
			t.Errorf("run %d: backend %q (env %q), hash %s; want go and the hash %s of run 1", i+1, r.Backend, r.Env["backend"], r.Hash, runs[0].Hash)
		}
	}
	for i, want := range []string{"gomlx-stock", "gomlx-stock", "fastdot"} {
		if got := runs[i].Env[backend.MatmulEnvKey]; !strings.HasPrefix(got, want) {
			t.Errorf("run %d recorded %s = %q, want %s...", i+1, backend.MatmulEnvKey, got, want)
		}
	}
	code, out, errOut := runCLI(t, "rerun", "1", "--verify", "-q", "--db", db)
	if code != 0 || strings.TrimSpace(out) != "identical" || !strings.Contains(errOut, "used GoMLX's stock matmul kernel; using it again") {
		t.Errorf("rerun --verify of a go:stock run: exit %d, %q, %s", code, out, errOut)
	}
	for _, args := range [][]string{{"--backend", "go:stock", "--fast-matmul"}, {"--backend", "go:stock,fast"}} {
		code, _, errOut := runCLI(t, append([]string{"run", "-q", spec, "--db", db}, args...)...)
		if code != 2 || !strings.Contains(errOut, "kernels") {
			t.Errorf("run %v: exit %d, %s; want a usage error about the kernels", args, code, errOut)
		}
	}
}
