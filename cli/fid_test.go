package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/interop/npy"
)

const fidTestdata = "../featurizer/inception/testdata"

// TestFidSaveStatsMatchesPytorchFID: runner fid --save-stats on the fixture images writes the
// statistics pytorch-fid's own compute_statistics_of_path gives (dims 64, the same weights),
// within 1e-5 relative; runner fid of the folder against that file is 0 on its last line.
func TestFidSaveStatsMatchesPytorchFID(t *testing.T) {
	var ref struct {
		Stats64 struct {
			Mu    []float64
			Sigma [][]float64
		} `json:"stats64"`
	}
	b, err := os.ReadFile(filepath.Join(fidTestdata, "inception_ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "stats.npz")
	weights := filepath.Join(fidTestdata, "weights.pth")
	images := filepath.Join(fidTestdata, "images")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"runner", "fid", "--save-stats", "--dims", "64", "--batch", "3", "--inception", weights, images, out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	s, err := npy.ReadFIDStats(out)
	if err != nil {
		t.Fatal(err)
	}
	scale, worst := 0.0, 0.0
	for i, v := range ref.Stats64.Mu {
		scale, worst = math.Max(scale, math.Abs(v)), math.Max(worst, math.Abs(s.Mu[i]-v))
	}
	if worst > 1e-5*scale {
		t.Errorf("mu differs from pytorch-fid's by %g (largest %g)", worst, scale)
	}
	scale, worst = 0, 0
	for i, row := range ref.Stats64.Sigma {
		for j, v := range row {
			scale, worst = math.Max(scale, math.Abs(v)), math.Max(worst, math.Abs(s.Sigma[i*64+j]-v))
		}
	}
	if worst > 1e-5*scale {
		t.Errorf("sigma differs from pytorch-fid's by %g (largest %g)", worst, scale)
	}
	t.Logf("sigma: largest difference %.3g of largest value %.3g", worst, scale)

	stdout.Reset()
	if code := run([]string{"runner", "fid", "--dims", "64", "--inception", weights, images, out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	v, err := strconv.ParseFloat(strings.TrimPrefix(last, "FID: "), 64)
	if !strings.HasPrefix(last, "FID: ") || err != nil || math.Abs(v) > 1e-6 {
		t.Fatalf("last line %q, want FID: 0", last)
	}
}

// TestFidBadWeightsExit2: missing, truncated and another network's weights exit 2 with a
// message naming the file.
func TestFidBadWeightsExit2(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(fidTestdata, "weights.pth"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pth")
	if err := os.WriteFile(cut, good[:len(good)-1000], 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TORCH_HOME", dir)
	t.Setenv("DDPM_INCEPTION_WEIGHTS", "")
	images := filepath.Join(fidTestdata, "images")
	for _, c := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"none anywhere", nil, "pt_inception-2015-12-05-6726825d.pth"},
		{"missing", []string{"--inception", filepath.Join(dir, "absent.pth")}, "absent.pth: no such file"},
		{"truncated", []string{"--inception", cut}, "cut.pth"},
		{"other network", []string{"--inception", filepath.Join(fidTestdata, "other.pth")}, "Conv2d_1a_3x3.conv.weight has shape [16 3 3 3]"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"runner", "fid"}, c.flags...)
		code := run(append(args, images, images), &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 saying %q", c.name, code, stderr.String(), c.want)
		}
	}
}
