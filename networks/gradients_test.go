package networks

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestSiLUGradient: the gradient of sum(w * SiLU(x)) is w times SiLU's derivative, within
// float32 rounding of the float64 formula, from far negative to far positive x, in float32
// and in float64; and it is the one product that SiLU's gradient promises, the incoming
// gradient times the derivative kept in the forward pass.
func TestSiLUGradient(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	xs := []float64{-90, -20, -8, -3, -1, -0.25, -1e-3, 0, 1e-3, 0.5, 1, 2.5, 7, 20, 90}
	ws := make([]float64, len(xs))
	want := make([]float64, len(xs))
	for i, x := range xs {
		ws[i] = 1 + 0.1*float64(i)
		s := 1 / (1 + math.Exp(-x))
		want[i] = ws[i] * (s + x*s*(1-s))
	}
	for _, tc := range []struct {
		name string
		tol  float64
		in   func([]float64) *tensors.Tensor
	}{
		{"float32", 1e-6, func(v []float64) *tensors.Tensor {
			f := make([]float32, len(v))
			for i := range v {
				f[i] = float32(v[i])
			}
			return tensors.FromValue(f)
		}},
		{"float64", 1e-14, func(v []float64) *tensors.Tensor { return tensors.FromValue(v) }},
	} {
		var shape string
		exec := MustNewExec(backend, func(x, w *Node) *Node {
			y := SiLU(x)
			grad := Gradient(ReduceAllSum(Mul(w, y)), x)[0]
			d := companion(ruleSiLU, y, "/derivative")
			if d == nil || grad.Type() != NodeTypeMul || (grad.Inputs()[0] != d && grad.Inputs()[1] != d) {
				shape = "the gradient is not the incoming gradient times the kept derivative"
			}
			return grad
		})
		out := exec.MustExec(tc.in(xs), tc.in(ws))[0]
		if shape != "" {
			t.Errorf("%s: %s", tc.name, shape)
		}
		var got []float64
		switch v := out.Value().(type) {
		case []float32:
			for _, f := range v {
				got = append(got, float64(f))
			}
		case []float64:
			got = v
		}
		for i := range xs {
			if err := math.Abs(got[i] - want[i]); err > tc.tol*math.Max(1, math.Abs(want[i])) {
				t.Errorf("%s: x = %g: gradient %.17g, want %.17g", tc.name, xs[i], got[i], want[i])
			}
		}
	}
}

// TestOtherProductsKeepTheirGradient: a product that SiLU did not build, even x * sigmoid(x)
// written out, keeps GoMLX's gradient through both factors.
func TestOtherProductsKeepTheirGradient(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	exec := MustNewExec(backend, func(a, b *Node) []*Node {
		return Gradient(ReduceAllSum(Add(Mul(a, b), Mul(a, Sigmoid(a)))), a, b)
	})
	a, b := []float32{-2, 0.5, 3}, []float32{4, -1, 0.25}
	out := exec.MustExec(a, b)
	ga, gb := out[0].Value().([]float32), out[1].Value().([]float32)
	for i := range a {
		x := float64(a[i])
		s := 1 / (1 + math.Exp(-x))
		if want := float64(b[i]) + s + x*s*(1-s); math.Abs(float64(ga[i])-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("d/da at %g: %g, want %g", x, ga[i], want)
		}
		if gb[i] != a[i] {
			t.Errorf("d/db at %d: %g, want %g", i, gb[i], a[i])
		}
	}
}

// TestGroupNormGradient: GroupNorm's hand-written gradient equals, in float64, GoMLX's
// automatic differentiation of the same formula written with plain ops, for the input, the
// per-channel scale (with modulation, per example) and the offset; and it builds four
// activation-sized nodes fewer.
func TestGroupNormGradient(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	const p, b, g, cg = 7, 3, 2, 4
	rng := rand.New(rand.NewPCG(3, 4))
	vec := func(n int, scale, shift float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = shift + scale*rng.NormFloat64()
		}
		return v
	}
	full, small := []int{p, b, g, cg}, []int{1, b, g, cg}
	x := tensors.FromFlatDataAndDimensions(vec(p*b*g*cg, 2, 0.5), full...)
	w := tensors.FromFlatDataAndDimensions(vec(p*b*g*cg, 1, 0), full...)
	k := tensors.FromFlatDataAndDimensions(vec(b*g*cg, 0.5, 1), small...)
	o := tensors.FromFlatDataAndDimensions(vec(b*g*cg, 0.5, 0), small...)
	bigNodes := map[bool]int{}
	grads := func(handWritten bool) [][]float64 {
		exec := MustNewExec(backend, func(x, w, k, o *Node) []*Node {
			var y *Node
			if handWritten {
				y = groupNorm(x, k, o)
			} else {
				c := Sub(x, ReduceAndKeep(x, ReduceMean, 0, 3))
				inv := Reciprocal(Sqrt(AddScalar(ReduceAndKeep(Mul(c, c), ReduceMean, 0, 3), normEpsilon)))
				y = Add(Mul(c, Mul(inv, k)), o)
			}
			before := len(x.Graph().Nodes())
			out := Gradient(ReduceAllSum(Mul(w, y)), x, k, o)
			for _, n := range x.Graph().Nodes()[before:] {
				if n.Shape().Size() == x.Shape().Size() {
					bigNodes[handWritten]++
				}
			}
			return out
		})
		var out [][]float64
		for _, r := range exec.MustExec(x, w, k, o) {
			out = append(out, tensors.MustCopyFlatData[float64](r))
		}
		return out
	}
	got, want := grads(true), grads(false)
	for i, name := range []string{"x", "scale", "offset"} {
		for j := range want[i] {
			if d := math.Abs(got[i][j] - want[i][j]); d > 1e-10*math.Max(1, math.Abs(want[i][j])) {
				t.Fatalf("d/d%s[%d]: %.17g, automatic differentiation gives %.17g", name, j, got[i][j], want[i][j])
			}
		}
	}
	// Seven activation-sized passes where the ops' rules take eleven.
	if saved := bigNodes[false] - bigNodes[true]; saved < 4 {
		t.Errorf("the hand-written gradient builds %d activation-sized nodes, automatic differentiation %d: %d fewer, want 4",
			bigNodes[true], bigNodes[false], saved)
	}
}

// TestRenamedSiLUKeepsAGradient: an alias that a caller gives SiLU's output replaces the
// mark; the product then gets GoMLX's rule, the same gradient.
func TestRenamedSiLUKeepsAGradient(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	exec := MustNewExec(backend, func(x *Node) *Node {
		y := SiLU(x).WithAlias("activation")
		if ruleOf(y) != "" {
			t.Errorf("the renamed product still has rule %q", ruleOf(y))
		}
		return Gradient(ReduceAllSum(y), x)[0]
	})
	xs := []float64{-3, -0.5, 0, 2}
	got := exec.MustExec(xs)[0].Value().([]float64)
	for i, x := range xs {
		s := 1 / (1 + math.Exp(-x))
		if want := s + x*s*(1-s); math.Abs(got[i]-want) > 1e-14 {
			t.Errorf("x = %g: gradient %.17g, want %.17g", x, got[i], want)
		}
	}
}
