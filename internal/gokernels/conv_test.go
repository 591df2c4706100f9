package gokernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/internal/conv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// convCase is a convolution of x [h, w, b, cin] by a 3x3 kernel, as the U-Net makes them.
type convCase struct{ h, w, b, cin, cout, stride int }

var convCases = []convCase{
	{28, 28, 4, 16, 16, 1}, {28, 28, 3, 16, 16, 2}, {14, 14, 5, 32, 32, 1}, {7, 7, 2, 5, 3, 2},
	{5, 4, 3, 1, 16, 1}, {6, 6, 2, 48, 1, 1}, {9, 5, 7, 3, 33, 1},
}

// convAndGradients runs Same3x3 forward and both gradients of sum(out * r) in the given dtype
// (float64 runs on simplego's own convolution loops: the reference).
func convAndGradients(t *testing.T, c convCase, dt dtypes.DType, fast bool) [][]float64 {
	t.Helper()
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(uint64(c.h*c.w), uint64(c.cin*c.cout)))
	oh, ow := (c.h+c.stride-1)/c.stride, (c.w+c.stride-1)/c.stride
	data := func(dims ...int) *tensors.Tensor {
		v := make([]float64, product(dims))
		for i := range v {
			v[i] = float64(float32(rng.NormFloat64()))
		}
		t64 := tensors.FromFlatDataAndDimensions(v, dims...)
		if dt == dtypes.Float64 {
			return t64
		}
		v32 := make([]float32, len(v))
		for i, x := range v {
			v32[i] = float32(x)
		}
		return tensors.FromFlatDataAndDimensions(v32, dims...)
	}
	x, k, r := data(c.h, c.w, c.b, c.cin), data(3, 3, c.cin, c.cout), data(oh, ow, c.b, c.cout)
	exec, err := graph.NewExecAny(b, func(x, k, r *graph.Node) []*graph.Node {
		out := conv.Same3x3(x, k, c.stride)
		g := graph.Gradient(graph.ReduceAllSum(graph.Mul(out, r)), x, k)
		return []*graph.Node{out, g[0], g[1]}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	active.Store(fast)
	defer active.Store(true)
	before := ConvCalls()
	res, err := exec.Exec(x, k, r)
	if err != nil {
		t.Fatal(err)
	}
	if ran := ConvCalls() - before; fast && dt == dtypes.Float32 && ran != 3 {
		t.Fatalf("%d of the 3 convolutions ran on the fast path", ran)
	}
	var out [][]float64
	for _, v := range res {
		if dt == dtypes.Float64 {
			out = append(out, tensors.MustCopyFlatData[float64](v))
			continue
		}
		f := tensors.MustCopyFlatData[float32](v)
		d := make([]float64, len(f))
		for i, x := range f {
			d[i] = float64(x)
		}
		out = append(out, d)
	}
	return out
}

// TestConvMatchesFloat64: the fast convolution, its input gradient (with the input dilation
// of a stride-2 layer) and its kernel gradient (the batch contracted, the kernel dilated)
// agree with simplego's float64 loops to float32 rounding, relative to the largest value.
func TestConvMatchesFloat64(t *testing.T) {
	for _, c := range convCases {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			want := convAndGradients(t, c, dtypes.Float64, false)
			got := convAndGradients(t, c, dtypes.Float32, true)
			for i, name := range []string{"output", "input gradient", "kernel gradient"} {
				var maxDiff, maxAbs float64
				for j := range want[i] {
					maxDiff = max(maxDiff, math.Abs(got[i][j]-want[i][j]))
					maxAbs = max(maxAbs, math.Abs(want[i][j]))
				}
				if !(maxDiff <= 2e-6*maxAbs) {
					t.Errorf("%s differs from float64 by %.3g relative", name, maxDiff/maxAbs)
				}
			}
		})
	}
}

// TestConvIndependentOfWorkers: one worker and three give the same bits, and so does a rerun.
func TestConvIndependentOfWorkers(t *testing.T) {
	requireKernel(t)
	p := hwbcConv([]int{1, 1}, [][2]int{{1, 1}, {1, 1}})
	in, ker, outDims := []int{14, 14, 8, 32}, []int{3, 3, 32, 32}, []int{14, 14, 8, 32}
	pl, err := newConvPlan(in, ker, outDims, p)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	x, k := randomData(rng, in), randomData(rng, ker)
	var outs [][]float32
	for _, w := range []int{1, 3, 3} {
		out := make([]float32, product(outDims))
		pl.run(x, k, out, w)
		outs = append(outs, out)
	}
	if !slices.Equal(outs[0], outs[1]) || !slices.Equal(outs[1], outs[2]) {
		t.Fatal("results depend on the number of workers")
	}
}

// TestConvGroupsFallBack: a grouped convolution goes to simplego's executor.
func TestConvGroupsFallBack(t *testing.T) {
	b := enabledBackend(t)
	before := ConvCalls()
	exec, err := graph.NewExecAny(b, func(x, k *graph.Node) *graph.Node {
		axes := graph.ConvolveAxesConfig{InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
			KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
			OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2}}
		return graph.ConvGeneral(x, k, axes, []int{1, 1}, nil, []int{1, 1}, []int{1, 1}, 2, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	rng := rand.New(rand.NewPCG(1, 2))
	if _, err := exec.Exec(randTensor(rng, 1, 5, 5, 4), randTensor(rng, 3, 3, 2, 4)); err != nil {
		t.Fatal(err)
	}
	if ConvCalls() != before {
		t.Fatal("a grouped convolution ran on the fast path")
	}
}

// TestSelfCheckCatchesACorruptConvolution: the convolution part of the self-check fails when
// the fast convolution is wrong.
func TestSelfCheckCatchesACorruptConvolution(t *testing.T) {
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	if err := selfCheckConv(b, rng); err != nil {
		t.Fatalf("the self-check fails on a sound convolution: %v", err)
	}
	SetCorruptForTest(true)
	defer SetCorruptForTest(false)
	defer active.Store(true)
	if err := selfCheckConv(b, rng); err == nil {
		t.Fatal("the self-check passed a corrupt convolution")
	}
}

// TestSpreadMatchesDefinition: the padded (and dilated) copy of a convolution's input puts
// element x at lo + x*dil on every axis and zeros everywhere else, whatever the buffer held
// before (it comes from a pool), for padding on the leading, middle and last axes, with and
// without dilation.
func TestSpreadMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, c := range []struct{ in, lo, hi, dil []int }{
		{[]int{4, 5, 3, 2}, []int{1, 1, 0, 0}, []int{1, 1, 0, 0}, []int{1, 1, 1, 1}}, // the U-Net's 3x3 "same"
		{[]int{4, 5, 3, 2}, []int{1, 1, 0, 0}, []int{2, 1, 0, 0}, []int{2, 2, 1, 1}}, // a stride-2 input gradient
		{[]int{3, 4, 2}, []int{0, 2, 1}, []int{1, 0, 1}, []int{1, 1, 1}},             // the last axis padded
		{[]int{3, 4, 2}, []int{0, 0, 0}, []int{0, 1, 0}, []int{1, 3, 1}},             // a middle axis dilated
		// Large enough to be split among workers (at GOMAXPROCS >= 2).
		{[]int{28, 28, 8, 16}, []int{1, 1, 0, 0}, []int{1, 1, 0, 0}, []int{1, 1, 1, 1}},
		{[]int{14, 14, 16, 32}, []int{1, 1, 0, 0}, []int{2, 2, 0, 0}, []int{2, 2, 1, 1}},
	} {
		pl := &convPlan{inDims: c.in, lo: c.lo, dil: c.dil}
		for a := range c.in {
			pl.padDims = append(pl.padDims, (c.in[a]-1)*c.dil[a]+1+c.lo[a]+c.hi[a])
		}
		src := randomData(rng, c.in)
		want := make([]float32, product(pl.padDims))
		sStr, dStr := rowMajorStrides(c.in), rowMajorStrides(pl.padDims)
		for s := range src {
			off := 0
			for a := range c.in {
				off += (c.lo[a] + s/sStr[a]%c.in[a]*c.dil[a]) * dStr[a]
			}
			want[off] = src[s]
		}
		got := make([]float32, len(want))
		for i := range got {
			got[i] = float32(math.NaN())
		}
		pl.spread(got, src)
		if i := slices.IndexFunc(got, func(v float32) bool { return v != v }); i >= 0 || !slices.Equal(got, want) {
			t.Errorf("%v padded %v %v dilated %v: spread differs from the definition (first NaN at %d)", c.in, c.lo, c.hi, c.dil, i)
		}
	}
}
