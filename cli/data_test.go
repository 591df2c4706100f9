package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cifarSpec is a small CIFAR-10 U-Net trial whose data folder holds no files.
const cifarSpec = `[data]
name = "cifar10"
flip = true
[schedule]
T = 50
[network]
name = "unet"
channels = 8
mults = [1, 2]
[train]
steps = 2
batch = 4
ema = 0
[sample]
n = 4
`

// TestDryRunWithoutDataFiles: a spec whose dataset reads its files lazily (cifar10,
// fashion-mnist, mnist) resolves and shows its trials where the files are absent; running it
// is refused before anything is written, with the files it looked for and where the data is
// published.
func TestDryRunWithoutDataFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "nodata")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DDPM_CIFAR10_DIR", "")
	for _, tc := range []struct {
		name, spec string
		sets       []string
		show, want []string
	}{
		{"cifar10", cifarSpec, []string{"--set", `data.dir="` + empty + `"`},
			[]string{`name = "cifar10"`, "flip = true", "# estimated peak memory"},
			[]string{"CIFAR-10 not found in " + empty, "data_batch_1.bin", "test_batch", "https://www.cs.toronto.edu/~kriz/cifar.html"}},
		{"cifar10 without a folder", cifarSpec, nil,
			[]string{`name = "cifar10"`},
			[]string{"$DDPM_CIFAR10_DIR", "https://www.cs.toronto.edu/~kriz/cifar.html"}},
		{"fashion-mnist", strings.Replace(cifarSpec, `"cifar10"`, `"fashion-mnist"`, 1), []string{"--set", `data.dir="` + empty + `"`, "--set", "data.size=14"},
			[]string{`name = "fashion-mnist"`},
			[]string{"Fashion-MNIST not found", "train-images-idx3-ubyte.gz", "dataset-fashion-mnist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := writeFile(t, dir, "data.toml", tc.spec)
			db := filepath.Join(dir, "runs.db")
			code, out, errOut := runCLI(t, append([]string{"run", spec, "--db", db, "--dry-run"}, tc.sets...)...)
			if code != 0 {
				t.Fatalf("--dry-run: exit %d: %s", code, errOut)
			}
			for _, w := range tc.show {
				if !strings.Contains(out, w) {
					t.Errorf("--dry-run does not show %q:\n%s", w, out)
				}
			}
			code, _, errOut = runCLI(t, append([]string{"run", "-q", spec, "--db", db}, tc.sets...)...)
			if code != 2 {
				t.Fatalf("run: exit %d, want 2: %s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error does not name %q: %s", w, errOut)
				}
			}
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Error("a refused run created the database")
			}
		})
	}
}
