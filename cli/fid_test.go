package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/ddpm-runner/ddpm-runner/backend"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/interop/npy"
	"github.com/ddpm-runner/ddpm-runner/results"
)

const fidTestdata = "../featurizer/inception/testdata"

// TestFidSaveStatsMatchesPytorchFID: runner fid --save-stats on the fixture images writes the
// statistics pytorch-fid's own compute_statistics_of_path gives (dims 64, the same weights),
// within 1e-5 relative; runner fid of the folder against that file is 0 on its last line.
func TestFidSaveStatsMatchesPytorchFID(t *testing.T) {
	if backend.DefaultKernel.Resolved() == backend.StockKernel {
		t.Skipf("$%s turns the fast kernels off: the Inception's forward passes take minutes each (TestFeaturesMatchPytorchFID checks the network on the stock kernels)", backend.KernelEnvVar)
	}
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

// TestFidInputs: the same five images as a folder of PNGs, as a samples.npz and as a run's
// samples.npz artifact (a run ID with --db) give the same statistics (FID 0), in text and in
// --format json; a run that is not there, one without samples and one whose artifact row
// leads outside its folder exit 2 naming the run.
func TestFidInputs(t *testing.T) {
	if backend.DefaultKernel.Resolved() == backend.StockKernel {
		t.Skipf("$%s turns the fast kernels off: the Inception's forward passes take minutes each (TestFeaturesMatchPytorchFID checks the network on the stock kernels)", backend.KernelEnvVar)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	const n, side = 5, 8
	px := make([]uint8, n*side*side*3)
	for i := range px {
		px[i] = uint8(rng.IntN(256))
	}
	folder := filepath.Join(dir, "pngs")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		img := image.NewNRGBA(image.Rect(0, 0, side, side))
		for p := range side * side {
			o := (i*side*side + p) * 3
			img.Set(p%side, p/side, color.NRGBA{px[o], px[o+1], px[o+2], 255})
		}
		f, err := os.Create(filepath.Join(folder, fmt.Sprintf("%d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	samples := filepath.Join(dir, "samples.npz")
	if err := npy.WriteSamples(samples, px, n, side, side, 3); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "runs.db")
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	root, err := s.ClaimArtifactRoot()
	if err != nil {
		t.Fatal(err)
	}
	newRun := func(artifact string) int64 {
		id, err := s.CreateRun(results.NewRun{Spec: "rgb", SpecFile: "rgb.toml", Hash: "h", GroupHash: "g", Resolved: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		runDir := filepath.Join(root, strconv.FormatInt(id, 10))
		if err := os.MkdirAll(runDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if artifact != "" {
			if artifact == "inside" {
				artifact = filepath.Join(runDir, results.SamplesNPZArtifact)
				if err := npy.WriteSamples(artifact, px, n, side, side, 3); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.AddArtifact(id, results.SamplesNPZArtifact, artifact); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	good, none, outside := newRun("inside"), newRun(""), newRun(samples)
	s.Close()
	weights := filepath.Join(fidTestdata, "weights.pth")
	id := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"folder and samples.npz, json", []string{"--format", "json", folder, samples}, 0, `"n":[5,5]`},
		{"a run's samples and a folder", []string{id(good), folder}, 0, "FID: "},
		{"a run's samples and samples.npz, json", []string{"--format", "json", samples, id(good)}, 0, `"dims":64`},
		{"no such run", []string{"99", folder}, 2, "99"},
		{"a run without samples", []string{id(none), folder}, 2, fmt.Sprintf("run %d has no samples.npz", none)},
		{"an artifact outside its run's folder", []string{id(outside), folder}, 2, "outside"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"runner", "fid", "--dims", "64", "--batch", "2", "--db", db, "--inception", weights}, c.args...)
			code := run(args, &stdout, &stderr)
			if code != c.code || !strings.Contains(stdout.String()+stderr.String(), c.want) {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q; want %q", code, c.code, stdout.String(), stderr.String(), c.want)
			}
			if code != 0 {
				return
			}
			var fid float64
			if strings.Contains(c.name, "json") {
				var res struct {
					FID     float64 `json:"fid"`
					Dims    int     `json:"dims"`
					N       [2]int  `json:"n"`
					Weights string  `json:"inception_sha256"`
				}
				if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
					t.Fatalf("%v: %s", err, stdout.String())
				}
				if res.Dims != 64 || res.N != [2]int{5, 5} || len(res.Weights) != 64 {
					t.Fatalf("json %+v", res)
				}
				fid = res.FID
			} else {
				lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
				if fid, err = strconv.ParseFloat(strings.TrimPrefix(lines[len(lines)-1], "FID: "), 64); err != nil {
					t.Fatal(err)
				}
			}
			if math.Abs(fid) > 1e-6 {
				t.Errorf("FID %v between two copies of the same images, want 0", fid)
			}
		})
	}
}
