package engine_test

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// hiddenSize hides a dataset's MemoryBytes, so that an estimate without it can be compared.
type hiddenSize struct{ plugins.Dataset }

// The estimate counts what a dataset keeps in every phase, and decoding its files at full
// size as a phase of its own: one 4000 x 4000 image in a folder of 8 x 8 ones is decoded in
// full before it is resized, which is more than this tiny U-Net needs anywhere else.
func TestEstimateCountsTheDataset(t *testing.T) {
	h := newHarness(t)
	text := unetSpec(t)
	dir := h.jobs(text)[0].Trial.Section("data").Params.String("path")
	big := image.NewGray(image.Rect(0, 0, 4000, 4000))
	f, err := os.Create(filepath.Join(dir, "zz_big.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, big); err != nil {
		t.Fatal(err)
	}
	f.Close()
	j := h.jobs(text, "eval.n=4")[0]
	sized, ok := j.Data.(plugins.SizedDataset)
	if !ok {
		t.Fatal("the images dataset does not say its size")
	}
	resident, loading := sized.MemoryBytes()
	if resident != 7*8*8 || loading < 4000*4000 {
		t.Fatalf("MemoryBytes %d, %d; want 448 kept and at least 1.6e7 to decode", resident, loading)
	}
	e := engine.EstimateMemory(j)
	if e.Phase != "load" || e.Phases["load"] != float64(resident+loading) {
		t.Errorf("peak %s (%v), load phase %v; want the load phase at %d", e.Phase, e.Phases, e.Phases["load"], resident+loading)
	}
	plain := *j
	plain.Data = hiddenSize{j.Data}
	without := engine.EstimateMemory(&plain)
	for _, ph := range []string{"train", "sample", "bound"} {
		if d := e.Phases[ph] - without.Phases[ph]; d != float64(resident) {
			t.Errorf("%s phase counts %v bytes of data, want %d", ph, d, resident)
		}
	}
}
