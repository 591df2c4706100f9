package datasets

import "github.com/ddpm-runner/ddpm-runner/plugins"

// Layout is a dataset without examples: only the shape of the images a model makes (an
// imported model sampled before, or without, the data it is evaluated on). Train and HeldOut
// are never reached: the engine refuses to train or evaluate on it (plugins.LayoutOnlyData).
type Layout struct{ Size, Channels int }

// Dim implements plugins.Dataset.
func (l Layout) Dim() int { return l.Size * l.Size * l.Channels }

// Discrete implements plugins.Dataset: the images are 8-bit, so x_0-hat is clipped as for
// any image data.
func (l Layout) Discrete() bool { return true }

// Train implements plugins.Dataset; it leaves dst as it is (see Layout).
func (l Layout) Train(uint64, int, int, []float32) {}

// HeldOut implements plugins.Dataset: there are none.
func (l Layout) HeldOut(int) []float32 { return nil }

// ImageShape implements plugins.ImageData.
func (l Layout) ImageShape() (h, w, c int) { return l.Size, l.Size, l.Channels }

// LayoutOnly implements plugins.LayoutOnlyData.
func (l Layout) LayoutOnly() string {
	return "name the data with --set data.name=... (for example cifar10), or a [data] table in --spec"
}

func init() {
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindDataset, Name: "none",
		Doc: "no data, only the image shape: sampling an imported model without its data (no training, no metrics)",
		Params: []plugins.Param{
			{Name: "size", Type: plugins.Int, Default: 32, Min: plugins.Bound(1), Max: plugins.Bound(1024), Doc: "side of the square images"},
			{Name: "channels", Type: plugins.Int, Default: 3, Min: plugins.Bound(1), Max: plugins.Bound(4), Doc: "channels per pixel"},
		},
		New: func(v plugins.Values) (plugins.Dataset, error) {
			return Layout{Size: v.Int("size"), Channels: v.Int("channels")}, nil
		},
	})
}
