package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/ddpm-runner/ddpm-runner/spec"
)

// flipSets make prepareTiny's spec train on 7x7 MNIST.
var flipSets = []string{`data.name="mnist"`, "data.size=7"}

// TestFlipImage: a mirror swaps columns within each row and keeps each pixel's channels
// together; mirroring twice gives the image back.
func TestFlipImage(t *testing.T) {
	// 2 rows, 3 columns, 2 channels: value = 100 row + 10 column + channel.
	img := []float32{0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121}
	orig := slices.Clone(img)
	flipImage(img, 2, 3, 2)
	want := []float32{20, 21, 10, 11, 0, 1, 120, 121, 110, 111, 100, 101}
	if !slices.Equal(img, want) {
		t.Fatalf("flipped %v, want %v", img, want)
	}
	flipImage(img, 2, 3, 2)
	if !slices.Equal(img, orig) {
		t.Fatalf("flipped twice %v, want %v", img, orig)
	}
}

// TestFlipBatches: with data.flip each example of a step is its image or the image's mirror,
// about half of them mirrored, the same ones for the same (seed, step) in a freshly prepared
// job (a resumed run), and nothing else of the step (timesteps, noise, weights) changes.
// Without it, the batch is the data's own.
func TestFlipBatches(t *testing.T) {
	plain := prepareTiny(t, flipSets...)
	flip := prepareTiny(t, append(slices.Clone(flipSets), "data.flip=true")...)
	resumed := prepareTiny(t, append(slices.Clone(flipSets), "data.flip=true")...)
	if !flip.Trial.Settings.Data.Flip || plain.Trial.Settings.Data.Flip {
		t.Fatal("data.flip did not reach the settings")
	}
	batch, dim := plain.Trial.Settings.Train.Batch, plain.Data.Dim()
	flipped, total := 0, 0
	for step := range 40 {
		p := plain.batchInputs(step, newBatchBuffers(batch, dim))
		f := flip.batchInputs(step, newBatchBuffers(batch, dim))
		r := resumed.batchInputs(step, newBatchBuffers(batch, dim))
		data := make([]float32, batch*dim)
		plain.Data.Train(uint64(plain.Trial.Seed), step, batch, data)
		if !slices.Equal(tensors.MustCopyFlatData[float32](p[x0Input]), data) {
			t.Fatalf("step %d: without flip the batch is not the data's", step)
		}
		for i := range p {
			if i != x0Input && !sameTensor(p[i], f[i]) {
				t.Fatalf("step %d: input %d changed with flip on", step, i)
			}
			if !sameTensor(f[i], r[i]) {
				t.Fatalf("step %d: input %d differs in a freshly prepared job", step, i)
			}
		}
		got := tensors.MustCopyFlatData[float32](f[x0Input])
		for i := range batch {
			img, out := data[i*dim:(i+1)*dim], got[i*dim:(i+1)*dim]
			mirror := slices.Clone(img)
			flipImage(mirror, 7, 7, 1)
			switch {
			case slices.Equal(img, mirror): // symmetric: either way
			case slices.Equal(out, img):
				total++
			case slices.Equal(out, mirror):
				flipped++
				total++
			default:
				t.Fatalf("step %d example %d is neither its image nor the mirror", step, i)
			}
		}
	}
	// 640 draws: half flipped, within 5 standard deviations (0.1).
	if share := float64(flipped) / float64(total); share < 0.4 || share > 0.6 {
		t.Errorf("%d of %d examples flipped (%.2f), want about half", flipped, total, share)
	}
}

// TestFlipKeepsHashesAndNeedsImages: data.flip = false is the default and changes no hash;
// data that are not images refuse flips.
func TestFlipKeepsHashesAndNeedsImages(t *testing.T) {
	load := func(sets ...string) *spec.Trial {
		tr, err := spec.Parse("tiny.toml", []byte("[data]\nname = \"mnist\"\nsize = 7\n"), sets)
		if err != nil {
			t.Fatal(err)
		}
		return tr[0]
	}
	def, off, on := load(), load("data.flip=false"), load("data.flip=true")
	if def.Hash() != off.Hash() || strings.Contains(def.Canonical(), "flip") {
		t.Errorf("flip = false changes the hash (%s vs %s) or shows in %s", def.Hash(), off.Hash(), def.Canonical())
	}
	if on.Hash() == def.Hash() {
		t.Error("flip = true has the hash of no flip")
	}
	tr, err := spec.Parse("tiny.toml", []byte("[data]\nname = \"swissroll\"\nflip = true\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Prepare(tr[0])
	if err == nil || !strings.Contains(err.Error(), "[data] flip") || !strings.Contains(err.Error(), "swissroll is not images") {
		t.Errorf("flip on 2-D data: error %v", err)
	}
}
