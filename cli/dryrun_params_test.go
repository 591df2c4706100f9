package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDryRunPrintsTheParameterCount: --dry-run prints each trial's parameter count, here of
// a U-Net in improved-diffusion's layout with a learned variance, whose count is that of
// improved-diffusion's UNetModel(in_channels=1, model_channels=8, out_channels=2,
// num_res_blocks=1, attention_resolutions=(2,), channel_mult=(1, 2), num_heads=2,
// use_scale_shift_norm=True) in PyTorch.
func TestDryRunPrintsTheParameterCount(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "unet.toml", `name = "unet"
[data]
name = "mnist"
size = 14
[schedule]
name = "cosine"
T = 50
[predictor]
variance = "learned_range"
[loss]
name = "hybrid"
[network]
name = "unet"
channels = 8
mults = [1, 2]
norm = "group"
res_blocks = 1
attention = [7]
heads = 2
scale_shift = true
dropout = 0.1
`)
	code, out, errOut := runCLI(t, "run", "--dry-run", spec)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "# parameters 48,474\n") {
		t.Errorf("want the line \"# parameters 48,474\":\n%s", out)
	}
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 35746307: "35,746,307", 52546438: "52,546,438", -1234: "-1,234"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestDryRunWarnsOfMemory: a trial over --max-memory is refused by a run, but a dry run (how
// a spec is inspected before it goes to a bigger machine) prints it with a warning.
func TestDryRunWarnsOfMemory(t *testing.T) {
	spec := writeFile(t, t.TempDir(), "quick.toml", quickSpec)
	code, out, errOut := runCLI(t, "run", "--dry-run", "--max-memory", "1KiB", spec)
	if code != 0 || !strings.Contains(errOut, "warning:") || !strings.Contains(errOut, "memory") || !strings.Contains(out, "# trial 1/1") {
		t.Errorf("dry run over --max-memory: exit %d, stdout %q, stderr %q; want the trial printed and a warning", code, out, errOut)
	}
	db := filepath.Join(t.TempDir(), "runs.db")
	if code, _, errOut := runCLI(t, "run", "--max-memory", "1KiB", "--db", db, spec); code != 2 || !strings.Contains(errOut, "memory") {
		t.Errorf("run over --max-memory: exit %d, stderr %q; want exit 2 naming the memory", code, errOut)
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("a refused run wrote its database")
	}
}
