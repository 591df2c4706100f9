package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scripts/gpu-check exits 3 with one line naming what is missing where there is no GPU, or
// where there is one but no usable CUDA plugin.
func TestGPUCheckSaysWhatIsMissing(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	runner := writeFile(t, dir, "runner", "#!/bin/sh\necho 'backend  go: pure Go, available'\n"+
		"echo 'backend  xla:cuda: unusable: no cuda PJRT plugin found (searched /x)'\n")
	os.Chmod(runner, 0o755)
	withGPU := filepath.Join(dir, "gpu")
	os.Mkdir(withGPU, 0o755)
	smi := writeFile(t, withGPU, "nvidia-smi", "#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-x)'\n")
	os.Chmod(smi, 0o755)
	for _, c := range []struct {
		name, path, want string
	}{
		{"no gpu", "/usr/bin:/bin", "gpu-check: no NVIDIA GPU here: nvidia-smi is not installed"},
		{"no plugin", withGPU + ":/usr/bin:/bin", "gpu-check: no usable CUDA PJRT plugin: no cuda PJRT plugin found (searched /x)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "gpu-check.txt")
			cmd := exec.Command("bash", filepath.Join("scripts", "gpu-check"), runner, out)
			cmd.Dir = ".."
			cmd.Env = append(os.Environ(), "PATH="+c.path)
			stderr, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
				t.Fatalf("exit %v, want 3: %s", err, stderr)
			}
			lines := strings.Split(strings.TrimSpace(string(stderr)), "\n")
			if len(lines) != 1 || lines[0] != c.want {
				t.Errorf("stderr %q, want the one line %q", stderr, c.want)
			}
			if b, _ := os.ReadFile(out); strings.TrimSpace(string(b)) != c.want {
				t.Errorf("output file %q, want the same line", b)
			}
		})
	}
}
