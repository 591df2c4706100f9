package networks

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// TestIm2ColMatchesNativeConvolution compares the im2col convolution with GoMLX's own
// (forward only: the native one has no gradient on this backend), stride 1 and 2.
func TestIm2ColMatchesNativeConvolution(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	h, w, b, cin, cout := 5, 4, 2, 3, 2
	x := randVec(rng, h*w*b*cin)
	k := randVec(rng, 9*cin*cout)
	for _, stride := range []int{1, 2} {
		res := MustNewExec(backend, func(x, k *Node) []*Node {
			ours := Im2ColConv(x, k, h, w, stride)
			img := Reshape(TransposeAllAxes(x, 1, 0, 2), b, h, w, cin)
			native := Convolve(img, Reshape(k, 3, 3, cin, cout)).PadSame().Strides(stride).Done()
			oh, ow := native.Shape().Dimensions[1], native.Shape().Dimensions[2]
			return []*Node{ours, TransposeAllAxes(Reshape(native, b, oh*ow, cout), 1, 0, 2)}
		}).MustExec(tensors.FromFlatDataAndDimensions(x, h*w, b, cin), tensors.FromFlatDataAndDimensions(k, 9, cin, cout))
		ours, native := tensors.MustCopyFlatData[float64](res[0]), tensors.MustCopyFlatData[float64](res[1])
		if len(ours) != len(native) {
			t.Fatalf("stride %d: %d values, native %d", stride, len(ours), len(native))
		}
		for i := range ours {
			if math.Abs(ours[i]-native[i]) > 1e-12 {
				t.Fatalf("stride %d: [%d] = %g, native %g", stride, i, ours[i], native[i])
			}
		}
	}
}

// TestUNetGradientFiniteDifferences checks d(sum(UNet(x) * r))/dx against central finite
// differences in float64; the gradient crosses every op of the network (Gather and its
// scatter, DotGeneral, concatenation, transposes, upsampling).
// Improved-diffusion's layout adds attention (its masked q/k/v parts, softmax and batched
// products), scale-shift and average pooling.
func TestUNetGradientFiniteDifferences(t *testing.T) {
	// Eight channels: GroupNorm then has two groups of four at the first level.
	for name, u := range map[string]*UNet{
		NormNone:  {Channels: 8, Mults: []int{1, 2}, Norm: NormNone},
		NormGroup: {Channels: 8, Mults: []int{1, 2}, Norm: NormGroup},
		"improved-diffusion layout": {Channels: 8, Mults: []int{1, 2}, Norm: NormGroup, ResBlocks: 1, Attention: []int{4, 2},
			Heads: 2, ScaleShift: true, PoolResample: true, TimeScale: 0.5},
	} {
		t.Run(name, func(t *testing.T) { unetGradientCheck(t, u) })
	}
}

func unetGradientCheck(t *testing.T, u *UNet) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	u.SetImageShape(4, 4, 1)
	b, d := 2, 16
	rng := rand.New(rand.NewPCG(2, 2))
	x := randVec(rng, b*d)
	r := randVec(rng, b*d)
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(3); err != nil {
		t.Fatal(err)
	}
	exec := context.MustNewExec(backend, ctx, func(ctx *context.Context, x, r *Node) []*Node {
		ts := Const(x.Graph(), []int32{3, 7})
		out := u.Apply(ctx, x, ts, d)
		loss := ReduceAllSum(Mul(out, r))
		return []*Node{loss, Gradient(loss, x)[0]}
	})
	eval := func() (float64, []float64) {
		res := exec.MustExec(tensors.FromFlatDataAndDimensions(x, b, d), tensors.FromFlatDataAndDimensions(r, b, d))
		return res[0].Value().(float64), tensors.MustCopyFlatData[float64](res[1])
	}
	eval() // creates and initialises the variables
	// Random weights everywhere: the zero-initialised layers of the normalised U-Net would
	// otherwise make the whole gradient zero.
	for v := range ctx.IterVariables() {
		if v.Trainable {
			val, err := v.Value()
			if err != nil {
				t.Fatal(err)
			}
			if err := v.SetValue(tensors.FromFlatDataAndDimensions(randVec(rng, val.Size()), val.Shape().Dimensions...)); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, grad := eval()
	nonzero := 0
	for _, g := range grad {
		if math.Abs(g) > 1e-8 {
			nonzero++
		}
	}
	if nonzero < len(grad)/2 {
		t.Fatalf("only %d of %d gradient entries are non-zero: the check would be vacuous", nonzero, len(grad))
	}
	const eps = 1e-6
	for i := range x {
		orig := x[i]
		x[i] = orig + eps
		plus, _ := eval()
		x[i] = orig - eps
		minus, _ := eval()
		x[i] = orig
		numeric := (plus - minus) / (2 * eps)
		if math.Abs(numeric-grad[i]) > 1e-5*(1+math.Abs(numeric)) {
			t.Fatalf("d/dx[%d] = %.9g, finite differences %.9g", i, grad[i], numeric)
		}
	}
}

// TestGroupNormMatchesReference compares GroupNorm with a float64 loop over the definition,
// for channel counts that give one, two and eight groups, with a learned scale and shift,
// and with Improved DDPM's modulation (1 + scale) and shift per example and channel.
func TestGroupNormMatchesReference(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for _, tc := range []struct {
		c         int
		modulated bool
	}{{3, false}, {8, false}, {64, false}, {8, true}, {64, true}} {
		c := tc.c
		p, b, g := 5, 2, normGroups(c)
		x := randVec(rng, p*b*c)
		for i := range x {
			x[i] = 3*x[i] + 1 // not already normalised
		}
		ms, mt := make([]float64, b*c), make([]float64, b*c) // the identity modulation unless modulated
		if tc.modulated {
			ms, mt = randVec(rng, b*c), randVec(rng, b*c)
		}
		ctx := context.New()
		exec := context.MustNewExec(backend, ctx, func(ctx *context.Context, x, ms, mt *Node) *Node {
			if tc.modulated {
				return GroupNormModulated(ctx, x, 0, ms, mt)
			}
			return GroupNorm(ctx, x)
		})
		args := []any{tensors.FromFlatDataAndDimensions(x, p, b, c), tensors.FromFlatDataAndDimensions(ms, 1, b, c),
			tensors.FromFlatDataAndDimensions(mt, 1, b, c)}
		exec.MustExec(args...)
		scale, shift := randVec(rng, c), randVec(rng, c)
		for v := range ctx.IterVariables() {
			vals := map[string][]float64{"scale": scale, "shift": shift}[v.Name()]
			if err := v.SetValue(tensors.FromFlatDataAndDimensions(vals, c)); err != nil {
				t.Fatal(err)
			}
		}
		got := tensors.MustCopyFlatData[float64](exec.MustExec(args...)[0])
		per := c / g
		for e := range b {
			for grp := range g {
				var sum, sq float64
				n := float64(p * per)
				for pos := range p {
					for k := range per {
						sum += x[(pos*b+e)*c+grp*per+k]
					}
				}
				mean := sum / n
				for pos := range p {
					for k := range per {
						d := x[(pos*b+e)*c+grp*per+k] - mean
						sq += d * d
					}
				}
				std := math.Sqrt(sq/n + normEpsilon)
				for pos := range p {
					for k := range per {
						ch := grp*per + k
						i := (pos*b+e)*c + ch
						want := ((x[i]-mean)/std*scale[ch]+shift[ch])*(1+ms[e*c+ch]) + mt[e*c+ch]
						if math.Abs(got[i]-want) > 1e-12 {
							t.Fatalf("c=%d modulated=%v: [%d] = %.15g, reference %.15g", c, tc.modulated, i, got[i], want)
						}
					}
				}
			}
		}
	}
}

func TestNormGroups(t *testing.T) {
	for c, want := range map[int]int{1: 1, 3: 1, 4: 1, 8: 2, 12: 3, 16: 4, 32: 8, 64: 8, 96: 8, 20: 5, 36: 6} {
		if got := normGroups(c); got != want {
			t.Errorf("normGroups(%d) = %d, want %d", c, got, want)
		}
	}
}
