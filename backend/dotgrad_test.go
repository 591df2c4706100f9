package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// dotCase is one DotGeneral layout: operand shapes and axes.
type dotCase struct {
	name             string
	lhsDims, rhsDims []int
	lc, lb, rc, rb   []int
}

var dotCases = []dotCase{
	{"matmul", []int{3, 4}, []int{4, 5}, []int{1}, nil, []int{0}, nil},
	{"lhs transposed", []int{4, 3}, []int{4, 5}, []int{0}, nil, []int{0}, nil},
	{"rhs transposed", []int{3, 4}, []int{5, 4}, []int{1}, nil, []int{1}, nil},
	{"both transposed", []int{4, 3}, []int{5, 4}, []int{0}, nil, []int{1}, nil},
	{"batched", []int{2, 3, 4}, []int{2, 4, 5}, []int{2}, []int{0}, []int{1}, []int{0}},
	{"batch axis last", []int{3, 4, 2}, []int{4, 5, 2}, []int{1}, []int{2}, []int{0}, []int{2}},
	{"two contracting axes, crossed order", []int{3, 2, 4}, []int{4, 5, 2}, []int{1, 2}, nil, []int{2, 0}, nil},
	{"vector dot", []int{4}, []int{4}, []int{0}, nil, []int{0}, nil},
}

// newGo creates a go backend through New, which installs the DotGeneral gradient, and
// finalizes it when the test ends.
func newGo(t *testing.T, k Kernel) backends.Backend {
	t.Helper()
	b, err := New(Choice{Config: "go", Kernel: k})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b.GoMLX()
}

func randomF64(rng *rand.Rand, dims []int) []float64 {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// TestDotGeneralVJPFiniteDifferences checks the hand-written gradient of DotGeneral against
// central finite differences of loss = sum(DotGeneral(a, b) * r) in float64.
func TestDotGeneralVJPFiniteDifferences(t *testing.T) {
	backend := newGo(t, DefaultKernel)
	rng := rand.New(rand.NewPCG(7, 7))
	for _, c := range dotCases {
		a, b := randomF64(rng, c.lhsDims), randomF64(rng, c.rhsDims)
		lossAndGrads := MustNewExec(backend, func(a, b, r *Node) []*Node {
			out := DotGeneral(a, c.lc, c.lb, b, c.rc, c.rb)
			loss := ReduceAllSum(Mul(out, r))
			return append([]*Node{loss}, Gradient(loss, a, b)...)
		})
		outShape := MustNewExec(backend, func(a, b *Node) *Node { return DotGeneral(a, c.lc, c.lb, b, c.rc, c.rb) }).
			MustExec(tensors.FromFlatDataAndDimensions(a, c.lhsDims...), tensors.FromFlatDataAndDimensions(b, c.rhsDims...))[0].Shape()
		r := randomF64(rng, outShape.Dimensions)
		eval := func(a, b []float64) []*tensors.Tensor {
			return lossAndGrads.MustExec(tensors.FromFlatDataAndDimensions(a, c.lhsDims...),
				tensors.FromFlatDataAndDimensions(b, c.rhsDims...), tensors.FromFlatDataAndDimensions(r, outShape.Dimensions...))
		}
		res := eval(a, b)
		grads := [][]float64{tensors.MustCopyFlatData[float64](res[1]), tensors.MustCopyFlatData[float64](res[2])}
		const h = 1e-6
		for which, x := range [][]float64{a, b} {
			for i := range x {
				orig := x[i]
				x[i] = orig + h
				plus := eval(a, b)[0].Value().(float64)
				x[i] = orig - h
				minus := eval(a, b)[0].Value().(float64)
				x[i] = orig
				numeric := (plus - minus) / (2 * h)
				if math.Abs(numeric-grads[which][i]) > 1e-6*(1+math.Abs(numeric)) {
					t.Fatalf("%s: d loss / d %s[%d] = %.10g, finite differences give %.10g", c.name, []string{"lhs", "rhs"}[which], i, grads[which][i], numeric)
				}
			}
		}
	}
}

// TestDotGeneralVJPMatchesStock compares the registered gradient with GoMLX's own on every
// layout, and checks the reflection that reads the axes (pinned to GoMLX v0.26.0).
func TestDotGeneralVJPMatchesStock(t *testing.T) {
	backend := newGo(t, DefaultKernel)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range dotCases {
		a, b := randomF64(rng, c.lhsDims), randomF64(rng, c.rhsDims)
		var ours, stock [][]float64
		for _, useStock := range []bool{false, true} {
			exec := MustNewExec(backend, func(a, b *Node) []*Node {
				out := DotGeneral(a, c.lc, c.lb, b, c.rc, c.rb)
				lc, lb, rc, rb := dotGeneralAxes(out)
				if !equalInts(lc, c.lc) || !equalInts(lb, c.lb) || !equalInts(rc, c.rc) || !equalInts(rb, c.rb) {
					t.Fatalf("%s: read axes %v %v %v %v, built with %v %v %v %v: GoMLX's DotGeneral node layout changed; "+
						"DotGeneralVJP is pinned to GoMLX v0.26.0", c.name, lc, lb, rc, rb, c.lc, c.lb, c.rc, c.rb)
				}
				v := OnesLike(out)
				if useStock {
					return stockDotGeneralVJP(out, []*Node{v}, out.Shape())
				}
				return DotGeneralVJP(out, v)
			})
			res := exec.MustExec(tensors.FromFlatDataAndDimensions(a, c.lhsDims...), tensors.FromFlatDataAndDimensions(b, c.rhsDims...))
			got := [][]float64{tensors.MustCopyFlatData[float64](res[0]), tensors.MustCopyFlatData[float64](res[1])}
			if useStock {
				stock = got
			} else {
				ours = got
			}
		}
		for k := range ours {
			for i := range ours[k] {
				if math.Abs(ours[k][i]-stock[k][i]) > 1e-12*(1+math.Abs(stock[k][i])) {
					t.Fatalf("%s: gradient %d[%d] = %g, stock %g", c.name, k, i, ours[k][i], stock[k][i])
				}
			}
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestMain checks, before any test creates a backend, that loading the package registered
// no gradient: InstallDotGradient runs only when called (by New), never in an init.
func TestMain(m *testing.M) {
	if stockDotGeneralVJP != nil {
		fmt.Fprintln(os.Stderr, "the DotGeneral gradient was installed before any backend was created")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestInstallDotGradientOnce checks that a second install keeps GoMLX's own gradient as the
// stock one (it would otherwise save DotGeneralVJP in its place) and that
// UseStockDotGradient swaps it in and back.
func TestInstallDotGradientOnce(t *testing.T) {
	InstallDotGradient()
	InstallDotGradient()
	ptr := func(f graph.VJP) uintptr { return reflect.ValueOf(f).Pointer() }
	ours := ptr(graph.VJPRegistration[graph.NodeTypeDotGeneral])
	if stockDotGeneralVJP == nil || ptr(stockDotGeneralVJP) == ours {
		t.Fatal("after two installs the saved stock gradient is the registered one")
	}
	restore := UseStockDotGradient()
	if ptr(graph.VJPRegistration[graph.NodeTypeDotGeneral]) != ptr(stockDotGeneralVJP) {
		t.Error("UseStockDotGradient did not register GoMLX's gradient")
	}
	restore()
	if ptr(graph.VJPRegistration[graph.NodeTypeDotGeneral]) != ours {
		t.Error("restore did not put DotGeneralVJP back")
	}
}
