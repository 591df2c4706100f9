package engine_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/interop/npy"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// seedXT is the x_T a chain of n 8x8x1 samples draws from seed, in PyTorch's [n, C, H, W].
func seedXT(seed uint64, n int) []float32 {
	rng := rand.New(rand.NewPCG(seed, engine.SampleSeedOffset))
	x := make([]float32, n*64)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x // C = 1: HWC and CHW are the same order
}

// TestSampleNoiseStartsTheChain: with [sample] noise the deterministic DDIM chain starts from
// the file's x_T: the x_T the seed would draw, written to a file, gives the seed's samples bit
// for bit, another seed's x_T gives that seed's samples whatever the run's seed, and the
// file's path and sha256 are recorded. Wrong shapes are refused at Prepare naming the key,
// the file, the shape found and the one wanted.
func TestSampleNoiseStartsTheChain(t *testing.T) {
	h := newHarness(t)
	out := h.run(h.jobs(unetSpec(t))[0])
	if out.Status != results.StatusFinished {
		t.Fatalf("%s: %v", out.Status, out.Err)
	}
	parent, err := h.store.Run(out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	sample := func(sets ...string) ([]uint8, int64) {
		t.Helper()
		trials, err := spec.SampleTrials(parent.Resolved, "", nil, append([]string{"sample.name=ddim", "sample.steps=5", "sample.n=4"}, sets...))
		if err != nil {
			t.Fatal(err)
		}
		job, err := engine.Prepare(trials[0])
		if err != nil {
			t.Fatal(err)
		}
		so := engine.SampleFrom(context.Background(), job, parent, engine.Options{Store: h.store})
		if so.Status != results.StatusFinished {
			t.Fatalf("%s: %v", so.Status, so.Err)
		}
		path, _ := h.store.ArtifactPath(so.RunID, results.SamplesNPZArtifact)
		pix, _, err := npy.ReadSamples(path)
		if err != nil {
			t.Fatal(err)
		}
		return pix, so.RunID
	}
	drawn, _ := sample()
	own := filepath.Join(t.TempDir(), "own.npy")
	if err := npy.WriteNPY(own, seedXT(uint64(parent.Seed), 4), 4, 1, 8, 8); err != nil {
		t.Fatal(err)
	}
	given, id := sample("sample.noise=" + own)
	if !slices.Equal(given, drawn) {
		t.Error("the seed's own x_T from a file gives other samples than the seed's chain")
	}
	run, _ := h.store.Run(id)
	if run.Env[engine.NoisePathEnvKey] != own || len(run.Env[engine.NoiseSHA256EnvKey]) != 64 {
		t.Errorf("env: %q %q", run.Env[engine.NoisePathEnvKey], run.Env[engine.NoiseSHA256EnvKey])
	}
	other := filepath.Join(t.TempDir(), "other.npy")
	if err := npy.WriteNPY(other, seedXT(uint64(parent.Seed)+1, 4), 4, 1, 8, 8); err != nil {
		t.Fatal(err)
	}
	a, _ := sample("sample.noise=" + other)
	b, _ := sample("sample.noise=" + other)
	if !slices.Equal(a, b) || slices.Equal(a, drawn) {
		t.Errorf("another x_T: same file gives the same samples %v, and differs from the seed's %v", slices.Equal(a, b), !slices.Equal(a, drawn))
	}

	bad := filepath.Join(t.TempDir(), "bad.npy")
	for _, c := range []struct {
		write func() error
		want  string
	}{
		{func() error { return npy.WriteNPY(bad, make([]float32, 3*64), 3, 1, 8, 8) }, "holds float32 [3, 1, 8, 8] (C order), want float32 [4, 1, 8, 8]"},
		{func() error { return npy.WriteNPY(bad, make([]float32, 4*64), 4, 8, 8, 1) }, "holds float32 [4, 8, 8, 1]"},
		{func() error { return npy.WriteNPY(bad, make([]float64, 4*64), 4, 1, 8, 8) }, "holds float64 [4, 1, 8, 8]"},
	} {
		if err := c.write(); err != nil {
			t.Fatal(err)
		}
		trials, err := spec.SampleTrials(parent.Resolved, "", nil, []string{"sample.n=4", "sample.noise=" + bad})
		if err != nil {
			t.Fatal(err)
		}
		_, err = engine.Prepare(trials[0])
		if err == nil || !strings.Contains(err.Error(), "[sample] noise") || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming the key, %s and %q; got %v", bad, c.want, err)
		}
	}
}

// TestSampleNoisePathIsRelativeToTheSpec: a relative [sample] noise is read from the spec
// file's folder, not the current one.
func TestSampleNoisePathIsRelativeToTheSpec(t *testing.T) {
	dir := t.TempDir()
	if err := npy.WriteNPY(filepath.Join(dir, "x.npy"), seedXT(1, 4), 4, 1, 8, 8); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "run.toml")
	if err := os.WriteFile(file, []byte(unetSpec(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	trials, err := spec.Load(file, []string{"sample.noise=x.npy"})
	if err != nil {
		t.Fatal(err)
	}
	j, err := engine.Prepare(trials[0])
	if err != nil {
		t.Fatal(err)
	}
	if j.Noise == nil || j.Noise.Path != filepath.Join(dir, "x.npy") || !slices.Equal(j.Noise.X, seedXT(1, 4)) {
		t.Errorf("noise %+v", j.Noise)
	}
}
