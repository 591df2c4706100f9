package cli

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/interop/npy"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// The flags of cli/testdata/gen_improved_diffusion.py's model (use_ddim is image_sample.py's:
// its samples come from ddim_sample_loop).
const (
	tinyModelFlags     = "--image_size 32 --num_channels 32 --num_res_blocks 1 --attention_resolutions 16 --num_heads 2 --learn_sigma True"
	tinyDiffusionFlags = "--diffusion_steps 100 --noise_schedule cosine --timestep_respacing ddim10 --use_ddim True"
)

// tinyCheckpoint gunzips the fixture checkpoint into dir.
func tinyCheckpoint(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "improved_diffusion_tiny.pt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tiny.pt")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runArgs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"runner"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestImportImprovedDiffusionMatchesReference imports a checkpoint of improved-diffusion's
// own U-Net (random weights, zero-initialised layers made non-zero), samples it with the
// runner's DDIM (eta 0, 10 steps of improved-diffusion's ddim10 stride, clip on) from the
// fixture's noise, and compares samples.npz with what improved-diffusion's ddim_sample_loop
// gave for the same weights and noise (uint8 after image_sample.py's conversion).
func TestImportImprovedDiffusionMatchesReference(t *testing.T) {
	dir := t.TempDir()
	ckpt := tinyCheckpoint(t, dir)
	db := filepath.Join(dir, "runs.db")
	code, out, errs := runArgs("import", "improved-diffusion", ckpt, "--db", db,
		"--model-flags", tinyModelFlags, "--diffusion-flags", tinyDiffusionFlags)
	if code != 0 || strings.TrimSpace(out) != "1" {
		t.Fatalf("import: exit %d, stdout %q, stderr %s", code, out, errs)
	}
	store, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := store.Run(1)
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != results.StatusFinished || rec.Env["kind"] != "imported" || len(rec.Env["import.sha256"]) != 64 ||
		rec.Env["import.model_flags"] != tinyModelFlags || rec.Env["import.file"] != ckpt {
		t.Errorf("imported run: status %s, env %v", rec.Status, rec.Env)
	}
	noise, err := filepath.Abs(filepath.Join("testdata", "improved_diffusion_noise.npy"))
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs = runArgs("sample", "1", "--db", db, "-q", "--set", "sample.n=4", "--set", "sample.noise="+noise)
	if code != 0 {
		t.Fatalf("sample: exit %d: %s", code, errs)
	}
	got, gotShape, err := npy.ReadSamples(filepath.Join(dir, "runs", "2", "samples.npz"))
	if err != nil {
		t.Fatal(err)
	}
	want, wantShape, err := npy.ReadSamples(filepath.Join("testdata", "improved_diffusion_samples.npz"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotShape, wantShape) {
		t.Fatalf("samples shape %v, want %v", gotShape, wantShape)
	}
	offByOne, interior := 0, 0
	for i := range want {
		d := int(got[i]) - int(want[i])
		if d < -1 || d > 1 {
			t.Fatalf("sample value %d = %d, improved-diffusion's %d", i, got[i], want[i])
		}
		if d != 0 {
			offByOne++
		}
		if want[i] > 0 && want[i] < 255 {
			interior++
		}
	}
	if offByOne > 8 {
		t.Errorf("%d of %d values off by one (float rounding allows a few)", offByOne, len(want))
	}
	// Clipping saturates a random model's samples; enough values must lie inside (0, 255)
	// for the comparison to see the network's output.
	if interior < len(want)/20 {
		t.Errorf("only %d of %d reference values inside (0, 255)", interior, len(want))
	}
}

// TestImportRefusesMismatchedFlags: flags that describe another U-Net than the checkpoint's
// are refused with exit 2 naming the first tensor that differs and what was expected, and
// the database is not even created.
func TestImportRefusesMismatchedFlags(t *testing.T) {
	dir := t.TempDir()
	ckpt := tinyCheckpoint(t, dir)
	for _, tc := range []struct {
		name, model string
		want        []string
	}{
		{"wider", strings.Replace(tinyModelFlags, "--num_channels 32", "--num_channels 64", 1),
			[]string{"tensor time_embed.0.weight", "shape [128 32] in the checkpoint, the flags give [256 64]"}},
		{"fixed variance", strings.Replace(tinyModelFlags, "--learn_sigma True", "--learn_sigma False", 1),
			[]string{"tensor out.2.weight", "shape [6 32 3 3] in the checkpoint, the flags give [3 32 3 3]"}},
		{"more blocks", strings.Replace(tinyModelFlags, "--num_res_blocks 1", "--num_res_blocks 2", 1),
			[]string{"tensor input_blocks.2.0.op.weight", "[32 32 3 3] is in the checkpoint but not in the U-Net the flags describe"}},
		{"attention at 8 too", strings.Replace(tinyModelFlags, "--attention_resolutions 16", "--attention_resolutions 16,8", 1),
			[]string{"tensor output_blocks.3.1.conv.weight", "[64 64 3 3] is in the checkpoint but not in the U-Net the flags describe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(dir, tc.name+".db")
			code, _, errs := runArgs("import", "improved-diffusion", ckpt, "--db", db,
				"--model-flags", tc.model, "--diffusion-flags", tinyDiffusionFlags)
			if code != 2 {
				t.Fatalf("exit %d, want 2: %s", code, errs)
			}
			for _, w := range append(tc.want, ckpt) {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q lacks %q", errs, w)
				}
			}
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Errorf("%s exists after a refused import (%v)", db, err)
			}
		})
	}
}

// TestImportWithoutDataRefusesMetrics: an import without data samples (above) but a metric
// is refused, saying how to name the data; a --set outside the allowed tables is refused.
func TestImportWithoutDataRefusesMetrics(t *testing.T) {
	dir := t.TempDir()
	ckpt := tinyCheckpoint(t, dir)
	db := filepath.Join(dir, "runs.db")
	code, _, errs := runArgs("import", "improved-diffusion", ckpt, "--db", db, "--set", "network.channels=64",
		"--model-flags", tinyModelFlags, "--diffusion-flags", tinyDiffusionFlags)
	if code != 2 || !strings.Contains(errs, "network.channels=64") || !strings.Contains(errs, "--model-flags") {
		t.Errorf("--set network.channels: exit %d: %s", code, errs)
	}
	code, _, errs = runArgs("import", "improved-diffusion", ckpt, "--db", db, "--set", "eval.metrics=[\"fid\"]",
		"--model-flags", tinyModelFlags, "--diffusion-flags", tinyDiffusionFlags)
	if code != 2 || !strings.Contains(errs, "fid needs data") || !strings.Contains(errs, "data.name") {
		t.Errorf("metric without data at import: exit %d: %s", code, errs)
	}
	if code, _, errs = runArgs("import", "improved-diffusion", ckpt, "--db", db,
		"--model-flags", tinyModelFlags, "--diffusion-flags", tinyDiffusionFlags); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errs)
	}
	code, _, errs = runArgs("sample", "1", "--db", db, "-q", "--set", "eval.metrics=[\"fid\"]", "--set", "sample.n=2")
	if code != 2 || !strings.Contains(errs, "fid needs data") {
		t.Errorf("sample with a metric and no data: exit %d: %s", code, errs)
	}
}
