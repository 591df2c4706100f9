package conv_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/internal/conv"
	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// reference is the convolution of x [h, w, b, cin] by k [kh, kw, cin, cout] in float64 loops.
func reference(x []float64, h, w, b, cin int, k []float64, kh, kw, cout, stride int, pads [][2]int) ([]float64, int, int) {
	oh := (h+pads[0][0]+pads[0][1]-kh)/stride + 1
	ow := (w+pads[1][0]+pads[1][1]-kw)/stride + 1
	out := make([]float64, oh*ow*b*cout)
	for oy := range oh {
		for ox := range ow {
			for bb := range b {
				for co := range cout {
					var s float64
					for ty := range kh {
						for tx := range kw {
							y, xx := oy*stride+ty-pads[0][0], ox*stride+tx-pads[1][0]
							if y < 0 || y >= h || xx < 0 || xx >= w {
								continue
							}
							for ci := range cin {
								s += x[((y*w+xx)*b+bb)*cin+ci] * k[((ty*kw+tx)*cin+ci)*cout+co]
							}
						}
					}
					out[((oy*ow+ox)*b+bb)*cout+co] = s
				}
			}
		}
	}
	return out, oh, ow
}

// TestConvAndGradientMatchFloat64 checks the forward convolution against float64 loops and
// both gradients (of sum(out * r)) against central finite differences, for the U-Net's
// strides and paddings and for an asymmetric kernel and padding.
func TestConvAndGradientMatchFloat64(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	cases := []struct {
		h, w, b, cin, cout, kh, kw, stride int
		pads                               [][2]int
	}{
		{5, 4, 2, 3, 2, 3, 3, 1, [][2]int{{1, 1}, {1, 1}}},
		{6, 5, 2, 2, 3, 3, 3, 2, nil}, // Same3x3's paddings
		{7, 7, 1, 2, 2, 3, 3, 2, nil},
		{5, 6, 2, 2, 1, 2, 3, 1, [][2]int{{0, 1}, {2, 0}}},
	}
	rng := rand.New(rand.NewPCG(4, 5))
	for _, c := range cases {
		if c.pads == nil {
			for _, n := range []int{c.h, c.w} {
				o := (n + c.stride - 1) / c.stride
				c.pads = append(c.pads, [2]int{1, (o-1)*c.stride + 2 - n})
			}
		}
		t.Run(fmt.Sprintf("%dx%d/k%dx%d/s%d/%v", c.h, c.w, c.kh, c.kw, c.stride, c.pads), func(t *testing.T) {
			x := make([]float64, c.h*c.w*c.b*c.cin)
			k := make([]float64, c.kh*c.kw*c.cin*c.cout)
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			for i := range k {
				k[i] = rng.NormFloat64()
			}
			want, oh, ow := reference(x, c.h, c.w, c.b, c.cin, k, c.kh, c.kw, c.cout, c.stride, c.pads)
			r := make([]float64, len(want))
			for i := range r {
				r[i] = rng.NormFloat64()
			}
			exec := graph.MustNewExec(backend, func(xn, kn, rn *graph.Node) []*graph.Node {
				out := conv.New(xn, kn, []int{c.stride, c.stride}, c.pads)
				loss := graph.ReduceAllSum(graph.Mul(out, rn))
				g := graph.Gradient(loss, xn, kn)
				return []*graph.Node{out, g[0], g[1]}
			})
			eval := func() []*tensors.Tensor {
				return exec.MustExec(tensors.FromFlatDataAndDimensions(x, c.h, c.w, c.b, c.cin),
					tensors.FromFlatDataAndDimensions(k, c.kh, c.kw, c.cin, c.cout),
					tensors.FromFlatDataAndDimensions(r, oh, ow, c.b, c.cout))
			}
			res := eval()
			got := tensors.MustCopyFlatData[float64](res[0])
			if len(got) != len(want) {
				t.Fatalf("%d outputs, want %d", len(got), len(want))
			}
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
					t.Fatalf("out[%d] = %.15g, float64 loops %.15g", i, got[i], want[i])
				}
			}
			loss := func() float64 {
				out, _, _ := reference(x, c.h, c.w, c.b, c.cin, k, c.kh, c.kw, c.cout, c.stride, c.pads)
				var s float64
				for i := range out {
					s += out[i] * r[i]
				}
				return s
			}
			for name, pair := range map[string]struct {
				vals []float64
				grad []float64
			}{"x": {x, tensors.MustCopyFlatData[float64](res[1])}, "kernel": {k, tensors.MustCopyFlatData[float64](res[2])}} {
				const eps = 1e-6
				for i := range pair.vals {
					orig := pair.vals[i]
					pair.vals[i] = orig + eps
					plus := loss()
					pair.vals[i] = orig - eps
					minus := loss()
					pair.vals[i] = orig
					numeric := (plus - minus) / (2 * eps)
					if math.Abs(numeric-pair.grad[i]) > 1e-6*(1+math.Abs(numeric)) {
						t.Fatalf("d/d%s[%d] = %.9g, finite differences %.9g", name, i, pair.grad[i], numeric)
					}
				}
			}
		})
	}
}
