package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/interop/npy"
)

// TestRerunRefusesChangedNoise: a run whose samples started from [sample] noise reruns from
// the same file, and is refused (exit 2, naming the file and both sha256s) once the file
// has changed.
func TestRerunRefusesChangedNoise(t *testing.T) {
	dir := t.TempDir()
	noise := filepath.Join(dir, "xT.npy")
	x := make([]float32, 20*2)
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	if err := npy.WriteNPY(noise, x, 20, 2); err != nil {
		t.Fatal(err)
	}
	spec := writeFile(t, dir, "quick.toml", quickSpec)
	db := filepath.Join(dir, "runs.db")
	if code, _, errOut := runCLI(t, "run", spec, "--db", db, "-q", "--set", `sample.noise="`+noise+`"`); code != 0 {
		t.Fatalf("run with sample.noise: exit %d: %s", code, errOut)
	}
	if code, out, errOut := runCLI(t, "rerun", "1", "--verify", "--db", db, "-q"); code != 0 || !strings.Contains(out+errOut, "identical") {
		t.Fatalf("rerun from the same noise: exit %d: %s%s", code, out, errOut)
	}
	x[0] = 5
	if err := os.Remove(noise); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteNPY(noise, x, 20, 2); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "rerun", "1", "--db", db, "-q")
	if code != 2 || !strings.Contains(errOut, "xT.npy") || !strings.Contains(errOut, "sha256") {
		t.Errorf("rerun after the noise file changed: exit %d: %s; want exit 2 naming the file and its sha256", code, errOut)
	}
}
