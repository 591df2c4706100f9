package engine

import (
	"path/filepath"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/interop/npy"
)

// TestLoadNoiseTransposesToHWC: x_T in PyTorch's [n, C, H, W] becomes the runner's HWC
// examples: value (e, ch, y, x) lands at e*dim + (y*W + x)*C + ch.
func TestLoadNoiseTransposesToHWC(t *testing.T) {
	const n, c, h, w = 2, 3, 4, 5
	chw := make([]float32, n*c*h*w)
	for i := range chw {
		chw[i] = float32(i)
	}
	path := filepath.Join(t.TempDir(), "x.npy")
	if err := npy.WriteNPY(path, chw, n, c, h, w); err != nil {
		t.Fatal(err)
	}
	noise, err := loadNoise(path, "", n, fakeImages{h, w, c})
	if err != nil {
		t.Fatal(err)
	}
	for e := range n {
		for ch := range c {
			for y := range h {
				for x := range w {
					if got, want := noise.X[e*c*h*w+(y*w+x)*c+ch], chw[((e*c+ch)*h+y)*w+x]; got != want {
						t.Fatalf("(%d, %d, %d, %d): %g, want %g", e, ch, y, x, got, want)
					}
				}
			}
		}
	}
}
