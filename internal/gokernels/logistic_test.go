package gokernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// logisticCorners are the values where the float32 loop changes branch or its clamp starts
// to matter: signed zeros, infinities, NaNs (quiet, signalling, negative), subnormals, the
// largest float32, the arguments where exp(-|x|) leaves the range in which 1/(1+e) or
// e/(1+e) round to something other than 1 or 0, and those around the clamp at -87.5 and the
// smallest normal float32 (x near -87.34).
var logisticCorners = []float32{
	0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
	float32(math.NaN()), math.Float32frombits(0x7f800001), math.Float32frombits(0xffc00123),
	1e-45, -1e-45, 1e-40, -1e-40, math.MaxFloat32, -math.MaxFloat32,
	16.635532, 17.32868, 36.7368, -87.33655, -87.336, -87.4, -87.49999, -87.5, -87.50001,
	-88.72284, -103.27893, -103.972084, -104.5, -120, 120, 709.7, -709.7, 1e10, -1e10,
}

// maxLogisticULPs bounds the loop's error against the float64 formula rounded to float32,
// in units in the last place of the exact value (it measures about 2.2 at worst).
const maxLogisticULPs = 3

// logisticError returns the error of got as the logistic of x, in ulps of the float64
// formula's value, or -1 when got is wrong outright: not x's quieted NaN for a NaN, or more
// than 2^-126 away where the exact value is below 2^-126 (the loop returns 0 there).
func logisticError(x, got float32) float64 {
	if x != x {
		if math.Float32bits(got) != math.Float32bits(x)|0x00400000 {
			return -1
		}
		return 0
	}
	want := 1 / (1 + math.Exp(-float64(x)))
	if want < 0x1p-126 {
		if math.Abs(float64(got)-want) > 0x1p-126 {
			return -1
		}
		return 0
	}
	ulp := float64(math.Nextafter32(float32(want), 2)) - float64(float32(want))
	return math.Abs(float64(got)-want) / ulp
}

// TestLogisticAgainstFloat64: the fast logistic, in a graph (which also checks that the
// fast path ran), is within maxLogisticULPs of the float64 formula on its corner values and
// on random values of every scale.
func TestLogisticAgainstFloat64(t *testing.T) {
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(11, 12))
	x := make([]float32, 4099) // not a multiple of 8: the padded last vector runs too
	for i := range x {
		x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(i%9)-4))
	}
	copy(x[100:], logisticCorners)
	before := MemCalls()
	out := graph.MustExecOnce(b, graph.Logistic, tensors.FromFlatDataAndDimensions(x, len(x)))
	if MemCalls() == before {
		t.Fatal("the logistic did not run on the fast path")
	}
	got := tensors.MustCopyFlatData[float32](out)
	for i, v := range x {
		if e := logisticError(v, got[i]); e < 0 || e > maxLogisticULPs {
			t.Errorf("logistic(%g = %#08x) = %g (%#08x): %.2f ulps from the float64 formula (-1: wrong)", v, math.Float32bits(v), got[i], math.Float32bits(got[i]), e)
		}
	}
}

// TestLogisticSweepsFloat32 runs the AVX2 and the AVX-512 loop on every 1021st float32 bit
// pattern (4.2 million values: every sign and exponent, many mantissas) and on two million
// (and eight) random values in [-30, 30], where the sigmoid is neither 0 nor 1, in one slice
// whose length is not a multiple of 16, so that the AVX2 loop after the last AVX-512 block
// and the padded last vector are checked too. Each loop runs into a separate output and in
// place (the executor writes into the input's buffer when it owns it): every value must be
// within maxLogisticULPs of the float64 formula, and the two loops must give the same bits.
func TestLogisticSweepsFloat32(t *testing.T) {
	requireKernel(t)
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
	defer func(on bool) { useAVX512 = on }(useAVX512)
	var first []float32
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
				if first == nil {
					first = got
					for i, v := range src {
						if e := logisticError(v, got[i]); e < 0 || e > maxLogisticULPs {
							t.Fatalf("value %d of %d: logistic(%g = %#08x) = %#08x, %.2f ulps from the float64 formula (-1: wrong)", i, len(src), v, math.Float32bits(v), math.Float32bits(got[i]), e)
						}
					}
					return
				}
				for i, v := range src {
					if g, w := math.Float32bits(got[i]), math.Float32bits(first[i]); g != w {
						t.Fatalf("value %d of %d: logistic(%g = %#08x) = %#08x, the AVX2 loop out of place gave %#08x", i, len(src), v, math.Float32bits(v), g, w)
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
