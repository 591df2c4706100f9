package engine

import (
	"fmt"
	"path/filepath"

	"github.com/ddpm-runner/ddpm-runner/internal/digest"
	"github.com/ddpm-runner/ddpm-runner/interop/npy"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Env keys that name the x_T a run's chain started from when [sample] noise gives it.
const (
	NoisePathEnvKey   = "sample.noise.path"
	NoiseSHA256EnvKey = "sample.noise.sha256"
)

// InitialNoise is a given x_T ([sample] noise) in the runner's layout: n examples of Dim
// values each, HWC within an image.
type InitialNoise struct {
	Path   string // the file, absolute
	SHA256 string // of the file's bytes, hex
	X      []float32
}

// noisePath resolves [sample] noise: a relative path is taken from the folder of the spec
// file the trial came from (as a spec's other files are read by its reader), or from the
// current folder for a trial without one (runner sample's --set).
func noisePath(name, specFile string) (string, error) {
	if !filepath.IsAbs(name) && specFile != "" {
		name = filepath.Join(filepath.Dir(specFile), name)
	}
	return filepath.Abs(name)
}

// loadNoise reads [sample] noise for n samples of data: float32 [n, C, H, W] for images
// (PyTorch's layout, transposed here to the runner's HWC examples), [n, dim] for other data.
func loadNoise(name, specFile string, n int, data plugins.Dataset) (*InitialNoise, error) {
	path, err := noisePath(name, specFile)
	if err != nil {
		return nil, err
	}
	want := []int{n, data.Dim()}
	img, isImage := data.(plugins.ImageData)
	var h, w, c int
	if isImage {
		h, w, c = img.ImageShape()
		want = []int{n, c, h, w}
	}
	x, _, err := npy.ReadNPY[float32](path, want...)
	if err != nil {
		return nil, fmt.Errorf("[sample] noise = %q: %w (sample.n = %d; %s)", name, err, n, layoutNote(isImage))
	}
	sum, err := digest.File(path)
	if err != nil {
		return nil, fmt.Errorf("[sample] noise = %q: %w", name, err)
	}
	if isImage { // [n, C, H, W] -> [n, H, W, C]
		hwc := make([]float32, len(x))
		for e := range n {
			base := e * c * h * w
			for ch := range c {
				for y := range h {
					for xx := range w {
						hwc[base+(y*w+xx)*c+ch] = x[base+(ch*h+y)*w+xx]
					}
				}
			}
		}
		x = hwc
	}
	return &InitialNoise{Path: path, SHA256: sum, X: x}, nil
}

func layoutNote(image bool) string {
	if image {
		return "images take [n, C, H, W], as PyTorch lays out x_T"
	}
	return "data that are not images take [n, dim]"
}
