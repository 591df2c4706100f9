package engine_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/interop/npy"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// TestSamplePixelsAsImageSample: the bytes of samples.npz are improved-diffusion's
// ((x + 1) * 127.5).clamp(0, 255).to(uint8); the wanted bytes are what PyTorch 1.13 gives
// for these float32 inputs (truncation toward zero, NaN to 0).
func TestSamplePixelsAsImageSample(t *testing.T) {
	in := []float32{-1, -0.99999, 0, 0.99, 0.999999, 1, 1.5, -2, float32(math.NaN()), float32(math.Inf(1))}
	want := []uint8{0, 0, 127, 253, 254, 255, 255, 0, 0, 255}
	if got := engine.SamplePixels(in); !slices.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}

// TestRunsWriteSamplesNPZ: a run on image data and a sample run from it each record a
// samples.npz artifact holding its n samples as uint8 [N, H, W, C].
func TestRunsWriteSamplesNPZ(t *testing.T) {
	h := newHarness(t)
	out := h.run(h.jobs(unetSpec(t))[0])
	if out.Status != results.StatusFinished {
		t.Fatalf("%s: %v", out.Status, out.Err)
	}
	check := func(id int64, n int) {
		t.Helper()
		path, err := h.store.ArtifactPath(id, results.SamplesNPZArtifact)
		if err != nil || path == "" {
			t.Fatalf("run %d: no samples.npz artifact (%v)", id, err)
		}
		pix, shape, err := npy.ReadSamples(path)
		if err != nil || !slices.Equal(shape, []int{n, 8, 8, 1}) || len(pix) != n*64 {
			t.Fatalf("run %d: %v %v", id, shape, err)
		}
	}
	check(out.RunID, 4)
	parent, err := h.store.Run(out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	trials, err := spec.SampleTrials(parent.Resolved, "", nil, []string{"sample.n=3"})
	if err != nil {
		t.Fatal(err)
	}
	job, err := engine.Prepare(trials[0])
	if err != nil {
		t.Fatal(err)
	}
	so := engine.SampleFrom(context.Background(), job, parent, engine.Options{Store: h.store})
	if so.Status != results.StatusFinished {
		t.Fatalf("sample run: %s: %v", so.Status, so.Err)
	}
	check(so.RunID, 3)
}
