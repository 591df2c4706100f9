package gokernels

import (
	"fmt"
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

// TestLogisticSweepsFloat32 compares the AVX logistic with simplego's own Logistic (the fast
// path off) bit for bit on every 1021st float32 bit pattern (4.2 million values: every sign and
// exponent, many mantissas) and on two million (and eight) random values in [-30, 30], where the sigmoid
// is neither 0 nor 1: every one of them, in one slice whose length is not a multiple of 16, so
// that the AVX loop after the last AVX-512 block and the Go loop after the last full vector
// are checked too. Each loop runs into a separate output and in place (the executor writes
// into the input's buffer when it owns it).
func TestLogisticSweepsFloat32(t *testing.T) {
	b := enabledBackend(t)
	var src []float32
	for bits := uint64(0); bits < 1<<32; bits += 1021 {
		src = append(src, math.Float32frombits(uint32(bits)))
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for range 2<<20 + 8 {
		src = append(src, float32(rng.Float64()*60-30))
	}
	if len(src)%8 == 0 || len(src)%16 < 8 {
		t.Fatalf("%d values: a multiple of 8, or fewer than 8 past a multiple of 16, leaves a tail unchecked", len(src))
	}
	// simplego's result: the hook hands the op to simplego's executor while the fast paths
	// are off (and does not count it as its own).
	active.Store(false)
	before := MemCalls()
	out := graph.MustExecOnce(b, graph.Logistic, tensors.FromFlatDataAndDimensions(src, len(src)))
	active.Store(true)
	if MemCalls() != before {
		t.Fatal("the reference ran on the fast path")
	}
	want := tensors.MustCopyFlatData[float32](out)
	if len(want) != len(src) {
		t.Fatalf("simplego returned %d values for %d", len(want), len(src))
	}
	defer func(on bool) { useAVX512 = on }(useAVX512)
	for _, avx512 := range []bool{false, true} {
		for _, inPlace := range []bool{false, true} {
			t.Run(fmt.Sprintf("avx512=%v/inplace=%v", avx512, inPlace), func(t *testing.T) {
				if avx512 && !avx512Supported {
					t.Skip("this CPU has no AVX-512F")
				}
				useAVX512 = avx512
				got := make([]float32, len(src))
				if inPlace {
					copy(got, src)
					logistic(got, got)
				} else {
					logistic(got, src)
				}
				for i, v := range src {
					if g, w := math.Float32bits(got[i]), math.Float32bits(want[i]); g != w {
						t.Fatalf("value %d of %d: logistic(%g = %#08x) = %#08x, simplego %#08x", i, len(src), v, math.Float32bits(v), g, w)
					}
				}
			})
		}
	}
}

// BenchmarkLogistic reports the logistic loops' speed on one core, on a U-Net activation of
// [784 32 16] values.
func BenchmarkLogistic(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := randomData(rng, []int{784, 32, 16})
	dst := make([]float32, len(src))
	defer func(on bool) { useAVX512 = on }(useAVX512)
	for _, avx512 := range []bool{false, true} {
		b.Run(fmt.Sprintf("avx512=%v", avx512), func(b *testing.B) {
			if avx512 && !avx512Supported {
				b.Skip("this CPU has no AVX-512F")
			}
			useAVX512 = avx512
			for range b.N {
				logistic(dst, src)
			}
			b.ReportMetric(float64(len(src))*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mvalues/s")
		})
	}
}
