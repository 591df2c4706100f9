package gokernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// logisticCorners are the values where the float64 formula changes branch or the clamp of
// the AVX loop starts to matter: signed zeros, infinities, NaNs (quiet, signalling, negative),
// subnormals, the largest float32, and the arguments where exp(-|x|) leaves the range in
// which 1/(1+e) or e/(1+e) round to something other than 1 or 0.
var logisticCorners = []float32{
	0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
	float32(math.NaN()), math.Float32frombits(0x7f800001), math.Float32frombits(0xffc00123),
	1e-45, -1e-45, 1e-40, -1e-40, math.MaxFloat32, -math.MaxFloat32,
	16.635532, 17.32868, 36.7368, -87.33655, -88.72284, -103.27893, -103.972084, -104.5,
	-119.99999, -120, -120.00001, 120, 709.7, -709.7, -745.2, 1e10, -1e10,
}

// TestLogisticMatchesSimplego: the AVX logistic gives simplego's bits on its corner values
// and on random values of every scale, in a graph (which also checks that the fast path ran).
func TestLogisticMatchesSimplego(t *testing.T) {
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(11, 12))
	x := make([]float32, 4099) // not a multiple of 8: the Go tail runs too
	for i := range x {
		x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(i%9)-4))
	}
	copy(x[100:], logisticCorners)
	sameBits(t, b, MemCalls, true, func(xs []*graph.Node) *graph.Node { return graph.Logistic(xs[0]) },
		tensors.FromFlatDataAndDimensions(x, len(x)))
}

// TestLogisticSweepsFloat32 compares the AVX loop with simplego's formula bit for bit on every
// 1021st float32 bit pattern (4.2 million values: every sign and exponent, many mantissas)
// and on two million random values in [-30, 30], where the sigmoid is neither 0 nor 1.
func TestLogisticSweepsFloat32(t *testing.T) {
	if !(vecSupported && kernelSupported) {
		t.Skip("no AVX2/FMA")
	}
	const chunk = 1 << 16
	src, dst := make([]float32, chunk), make([]float32, chunk)
	n := 0
	add := func(v float32) {
		src[n] = v
		if n++; n < chunk {
			return
		}
		logistic(dst, src)
		for i, v := range src {
			if got, want := math.Float32bits(dst[i]), math.Float32bits(logisticOne(v)); got != want {
				t.Fatalf("logistic(%g = %#08x) = %#08x, want %#08x", v, math.Float32bits(v), got, want)
			}
		}
		n = 0
	}
	for bits := uint64(0); bits < 1<<32; bits += 1021 {
		add(math.Float32frombits(uint32(bits)))
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for range 2 << 20 {
		add(float32(rng.Float64()*60 - 30))
	}
}
