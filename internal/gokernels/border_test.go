package gokernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// hwbcConv is the convolution layout of the U-Nets, [H, W, B, C] in and out and [3, 3, C_in,
// C_out] kernels, with the given strides and paddings.
func hwbcConv(strides []int, pads [][2]int) *convLayout {
	p := &convLayout{strides: strides, paddings: pads, inputDilations: []int{1, 1}}
	p.axes.InputBatch, p.axes.InputChannels, p.axes.InputSpatial = 2, 3, []int{0, 1}
	p.axes.KernelInputChannels, p.axes.KernelOutputChannels, p.axes.KernelSpatial = 2, 3, []int{0, 1}
	p.axes.OutputBatch, p.axes.OutputChannels, p.axes.OutputSpatial = 2, 3, []int{0, 1}
	return p
}

// TestBorderSplitEqualsPadded runs same-size 3x3 convolutions ([H, W, B, C] input, one pixel
// of padding) through the border split and through the fully padded copy: the same bits,
// for the smallest image the split takes, odd sizes, one output channel (the matrix-vector
// kernels), one and two panels, on one worker and on two; and the plan of a strided or
// unpadded convolution has no split.
func TestBorderSplitEqualsPadded(t *testing.T) {
	requireKernel(t)
	t.Cleanup(func() { padEverything = false })
	rng := rand.New(rand.NewPCG(31, 32))
	for _, s := range []struct{ h, w, b, cin, cout int }{
		{3, 3, 2, 16, 16}, {5, 4, 3, 16, 1}, {7, 9, 2, 3, 24}, {28, 28, 4, 16, 16}, {14, 14, 8, 32, 48},
	} {
		for _, workers := range []int{1, 2} {
			t.Run(fmt.Sprintf("%dx%dx%dx%d->%d/workers=%d", s.h, s.w, s.b, s.cin, s.cout, workers), func(t *testing.T) {
				p := hwbcConv([]int{1, 1}, [][2]int{{1, 1}, {1, 1}})
				in, ker, outDims := []int{s.h, s.w, s.b, s.cin}, []int{3, 3, s.cin, s.cout}, []int{s.h, s.w, s.b, s.cout}
				pl, err := newConvPlan(in, ker, outDims, p)
				if err != nil {
					t.Fatal(err)
				}
				if pl.split == nil {
					t.Fatal("no border split")
				}
				x, k := randomData(rng, in), randomData(rng, ker)
				var outs [2][]float32
				for i, pad := range []bool{true, false} {
					padEverything = pad
					outs[i] = randomData(rng, outDims) // garbage that must be overwritten
					pl.run(x, k, outs[i], workers)
				}
				for i := range outs[0] {
					if math.Float32bits(outs[0][i]) != math.Float32bits(outs[1][i]) {
						t.Fatalf("element %d (row %d): %v through the padded copy, %v through the split", i, i/s.cout, outs[0][i], outs[1][i])
					}
				}
			})
		}
	}
	for _, c := range []struct {
		name    string
		strides []int
		pads    [][2]int
		out     []int
	}{
		{"strided", []int{2, 2}, [][2]int{{1, 1}, {1, 1}}, []int{4, 4, 2, 16}},
		{"unpadded", []int{1, 1}, [][2]int{{0, 0}, {0, 0}}, []int{6, 6, 2, 16}},
	} {
		p := hwbcConv(c.strides, c.pads)
		pl, err := newConvPlan([]int{8, 8, 2, 16}, []int{3, 3, 16, 16}, c.out, p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if pl.split != nil {
			t.Errorf("%s: a border split", c.name)
		}
	}
}

// BenchmarkBorderSplit times a U-Net convolution ([28 28 32 16] to 16 channels, and 32 to 32)
// on one worker through the fully padded copy and through the border split.
func BenchmarkBorderSplit(b *testing.B) {
	defer func() { padEverything = false }()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []int{16, 32} {
		p := hwbcConv([]int{1, 1}, [][2]int{{1, 1}, {1, 1}})
		in, ker := []int{28, 28, 32, c}, []int{3, 3, c, c}
		pl, err := newConvPlan(in, ker, in, p)
		if err != nil {
			b.Fatal(err)
		}
		x, k, out := randomData(rng, in), randomData(rng, ker), make([]float32, product(in))
		for _, pad := range []bool{true, false} {
			b.Run(fmt.Sprintf("%d/padded=%v", c, pad), func(b *testing.B) {
				padEverything = pad
				for range b.N {
					pl.run(x, k, out, 1)
				}
			})
		}
	}
}
