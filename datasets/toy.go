// Package datasets holds the data plugins. The 2-D toy sets (swissroll, moons, 8gaussians,
// checkerboard) and the d-dimensional standard normal (gaussian, whose exact NLL is known)
// are generated on the fly from the run's random stream, so a training run never sees the
// same point twice and its data order is a pure function of (seed, step).
package datasets

import (
	"math"
	"math/rand/v2"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// heldOutSeed seeds the held-out examples: they come from a stream that no training step
// uses (training streams are seeded by the run's seed and the step).
const heldOutSeed = 0x5eed_0f_4e1d_0ff

// Generator is a continuous dataset defined by a function that draws one example.
type Generator struct {
	D    int
	Draw func(rng *rand.Rand, dst []float32)
}

// Dim implements plugins.Dataset.
func (g *Generator) Dim() int { return g.D }

// Discrete implements plugins.Dataset: generated data are continuous.
func (g *Generator) Discrete() bool { return false }

// Train implements plugins.Dataset: fresh points from the step's own random stream.
func (g *Generator) Train(seed uint64, step, n int, dst []float32) {
	g.draw(rand.New(rand.NewPCG(seed, uint64(step))), n, dst)
}

func (g *Generator) draw(rng *rand.Rand, n int, dst []float32) {
	for i := range n {
		g.Draw(rng, dst[i*g.D:(i+1)*g.D])
	}
}

// HeldOut implements plugins.Dataset.
func (g *Generator) HeldOut(n int) []float32 {
	out := make([]float32, n*g.D)
	g.draw(rand.New(rand.NewPCG(heldOutSeed, uint64(n))), n, out)
	return out
}

// SwissRoll is sklearn's make_swiss_roll seen from above, scaled by 1/5 to roughly [-2.5, 2.5].
func SwissRoll(noise float64) *Generator {
	return &Generator{D: 2, Draw: func(rng *rand.Rand, dst []float32) {
		t := 1.5 * math.Pi * (1 + 2*rng.Float64())
		dst[0] = float32((t*math.Cos(t))/5 + noise*rng.NormFloat64())
		dst[1] = float32((t*math.Sin(t))/5 + noise*rng.NormFloat64())
	}}
}

// Moons is two interleaving half circles, centred and scaled to about [-2, 2] x [-1, 1].
func Moons(noise float64) *Generator {
	return &Generator{D: 2, Draw: func(rng *rand.Rand, dst []float32) {
		a := math.Pi * rng.Float64()
		var x, y float64
		if rng.IntN(2) == 0 {
			x, y = math.Cos(a), math.Sin(a)
		} else {
			x, y = 1-math.Cos(a), 0.5-math.Sin(a)
		}
		dst[0] = float32(2*(x-0.5) + noise*rng.NormFloat64())
		dst[1] = float32(2*(y-0.25) + noise*rng.NormFloat64())
	}}
}

// EightGaussians is a mixture of eight Gaussians evenly spaced on a circle of radius 2.
func EightGaussians(std float64) *Generator {
	return &Generator{D: 2, Draw: func(rng *rand.Rand, dst []float32) {
		a := 2 * math.Pi * float64(rng.IntN(8)) / 8
		dst[0] = float32(2*math.Cos(a) + std*rng.NormFloat64())
		dst[1] = float32(2*math.Sin(a) + std*rng.NormFloat64())
	}}
}

// Checkerboard is uniform on the black squares of a 4x4 board on [-2, 2]^2.
func Checkerboard() *Generator {
	return &Generator{D: 2, Draw: func(rng *rand.Rand, dst []float32) {
		x := rng.Float64()*4 - 2
		y := rng.Float64() - float64(rng.IntN(2))*2
		y += float64(int(math.Floor(x)) & 1)
		dst[0], dst[1] = float32(x), float32(y)
	}}
}

// Gaussian is the standard normal in d dimensions; its entropy, and so the best achievable
// NLL, is 0.5 log(2 pi e) = 1.4189 nats per dimension.
func Gaussian(d int) *Generator {
	return &Generator{D: d, Draw: func(rng *rand.Rand, dst []float32) {
		for i := range dst {
			dst[i] = float32(rng.NormFloat64())
		}
	}}
}

func init() {
	noise := func(def float64) []plugins.Param {
		return []plugins.Param{{Name: "noise", Type: plugins.Float, Default: def, Min: plugins.Bound(0), Max: plugins.Bound(10),
			Doc: "standard deviation of Gaussian noise added to each coordinate"}}
	}
	plugins.Register(plugins.Plugin{Kind: plugins.KindDataset, Name: "swissroll", Params: noise(0.05),
		Doc: "2-D swiss roll (sklearn's make_swiss_roll, x-z plane, scaled by 1/5)",
		New: func(v plugins.Values) (plugins.Dataset, error) { return SwissRoll(v.Float("noise")), nil }})
	plugins.Register(plugins.Plugin{Kind: plugins.KindDataset, Name: "moons", Params: noise(0.05),
		Doc: "2-D two interleaving half circles",
		New: func(v plugins.Values) (plugins.Dataset, error) { return Moons(v.Float("noise")), nil }})
	plugins.Register(plugins.Plugin{Kind: plugins.KindDataset, Name: "8gaussians",
		Params: []plugins.Param{{Name: "std", Type: plugins.Float, Default: 0.1, Min: plugins.Bound(0), ExclusiveMin: true, Max: plugins.Bound(10),
			Doc: "standard deviation of each mixture component"}},
		Doc: "2-D mixture of eight Gaussians on a circle of radius 2",
		New: func(v plugins.Values) (plugins.Dataset, error) { return EightGaussians(v.Float("std")), nil }})
	plugins.Register(plugins.Plugin{Kind: plugins.KindDataset, Name: "checkerboard",
		Doc: "2-D uniform on the black squares of a 4x4 checkerboard on [-2, 2]^2",
		New: func(plugins.Values) (plugins.Dataset, error) { return Checkerboard(), nil }})
	plugins.Register(plugins.Plugin{Kind: plugins.KindDataset, Name: "gaussian",
		Params: []plugins.Param{{Name: "dim", Type: plugins.Int, Default: 2, Min: plugins.Bound(1), Max: plugins.Bound(4096),
			Doc: "number of dimensions"}},
		Doc: "standard normal in dim dimensions (exact NLL 0.5 log(2 pi e) = 1.4189 nats/dim)",
		New: func(v plugins.Values) (plugins.Dataset, error) { return Gaussian(v.Int("dim")), nil }})
}
