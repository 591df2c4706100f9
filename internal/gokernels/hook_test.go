package gokernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// pinnedGoMLX is the only GoMLX version whose internals the hook was written against.
const pinnedGoMLX = "v0.26.0"

func newBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := simplego.New("parallelism=-1")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// enabledBackend returns a backend with the fast kernel checked and active.
func enabledBackend(t testing.TB) backends.Backend {
	t.Helper()
	requireKernel(t)
	b := newBackend(t)
	SetEnabled(true)
	Ensure(b)
	if !Active() {
		t.Fatalf("fast kernel not active: %s", Kernel())
	}
	return b
}

func TestPinnedToGoMLX(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info")
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/gomlx/gomlx" && d.Version != pinnedGoMLX {
			t.Fatalf("GoMLX is %s, but internal/gokernels reaches into simplego internals of %s (nodeExecutors, "+
				"(*Backend).getBufferForShape, the Node/Buffer/dotGeneralNodeData layouts): re-check them against the new "+
				"version's source, then update pinnedGoMLX", d.Version, pinnedGoMLX)
		}
	}
	for _, c := range []struct{ real, mirror reflect.Type }{
		{reflect.TypeFor[simplego.Node](), reflect.TypeFor[nodeLayout]()},
		{reflect.TypeFor[simplego.Buffer](), reflect.TypeFor[bufferLayout]()},
	} {
		if err := checkLayout(c.real, c.mirror); err != nil {
			t.Fatalf("simplego's layout changed, the hook would misread memory: %v", err)
		}
	}
	if nodeExecutors[backends.OpTypeDotGeneral] == nil {
		t.Fatal("linknamed simplego.nodeExecutors has no DotGeneral entry: the symbol or its type changed")
	}
	// The DotGeneral node data is only reachable from a real node: run one product and check
	// that the hook saw (and verified) its type rather than falling back.
	b := enabledBackend(t)
	_, fb0 := Calls()
	out := graph.MustExecOnce(b, func(x, y *graph.Node) *graph.Node { return graph.Dot(x, y) },
		[][]float32{{1, 2}, {3, 4}}, [][]float32{{5, 6}, {7, 8}})
	if got := out.Value().([][]float32); !reflect.DeepEqual(got, [][]float32{{19, 22}, {43, 50}}) {
		t.Fatalf("2x2 product = %v", got)
	}
	if _, fb := Calls(); fb != fb0 {
		t.Fatal("the 2x2 product fell back to the stock kernel: dotGeneralNodeData's layout changed")
	}
	if tp := dotDataType.Load(); tp == nil || checkLayout((*tp).Elem(), reflect.TypeFor[dotGeneralLayout]()) != nil {
		t.Fatal("dotGeneralNodeData was not verified against its mirror")
	}
}

// einsumRef computes a DotGeneral in float64 from first principles: the output index is
// (batch..., lhs free..., rhs free...), each summed over all contracting index tuples.
func einsumRef(l []float32, lDims []int, r []float32, rDims []int, lc, lb, rc, rb []int) []float64 {
	free := func(dims, c, b []int) []int {
		var out []int
	next:
		for ax := range dims {
			for _, x := range append(append([]int{}, c...), b...) {
				if x == ax {
					continue next
				}
			}
			out = append(out, ax)
		}
		return out
	}
	lf, rf := free(lDims, lc, lb), free(rDims, rc, rb)
	var outDims, cDims []int
	for _, ax := range lb {
		outDims = append(outDims, lDims[ax])
	}
	for _, ax := range lf {
		outDims = append(outDims, lDims[ax])
	}
	for _, ax := range rf {
		outDims = append(outDims, rDims[ax])
	}
	for _, ax := range lc {
		cDims = append(cDims, lDims[ax])
	}
	flat := func(dims, idx []int) int {
		f := 0
		for i, d := range dims {
			f = f*d + idx[i]
		}
		return f
	}
	unflat := func(dims []int, f int) []int {
		idx := make([]int, len(dims))
		for i := len(dims) - 1; i >= 0; i-- {
			idx[i] = f % dims[i]
			f /= dims[i]
		}
		return idx
	}
	size := func(dims []int) int {
		n := 1
		for _, d := range dims {
			n *= d
		}
		return n
	}
	out := make([]float64, size(outDims))
	for o := range out {
		oi := unflat(outDims, o)
		li, ri := make([]int, len(lDims)), make([]int, len(rDims))
		for i := range lb {
			li[lb[i]], ri[rb[i]] = oi[i], oi[i]
		}
		for i, ax := range lf {
			li[ax] = oi[len(lb)+i]
		}
		for i, ax := range rf {
			ri[ax] = oi[len(lb)+len(lf)+i]
		}
		var s float64
		for c := 0; c < size(cDims); c++ {
			ci := unflat(cDims, c)
			for i := range lc {
				li[lc[i]], ri[rc[i]] = ci[i], ci[i]
			}
			s += float64(l[flat(lDims, li)]) * float64(r[flat(rDims, ri)])
		}
		out[o] = s
	}
	return out
}

type dotCase struct {
	name                   string
	lhs, rhs               []int
	lhsC, lhsB, rhsC, rhsB []int
}

func dotCases() []dotCase {
	var cases []dotCase
	for _, s := range []int{1, 3, 17, 129} {
		m, n, k := s, s+2, s // non-square
		cases = append(cases,
			dotCase{fmt.Sprintf("NN/%d", s), []int{m, k}, []int{k, n}, []int{1}, nil, []int{0}, nil},
			dotCase{fmt.Sprintf("TN/%d", s), []int{k, m}, []int{k, n}, []int{0}, nil, []int{0}, nil},
			dotCase{fmt.Sprintf("NT/%d", s), []int{m, k}, []int{n, k}, []int{1}, nil, []int{1}, nil},
			dotCase{fmt.Sprintf("TT/%d", s), []int{k, m}, []int{n, k}, []int{0}, nil, []int{1}, nil},
			dotCase{fmt.Sprintf("batch/%d", s), []int{2, m, k}, []int{2, k, n}, []int{2}, []int{0}, []int{1}, []int{0}},
		)
	}
	return append(cases,
		dotCase{"batch-last", []int{5, 7, 3}, []int{7, 4, 3}, []int{1}, []int{2}, []int{0}, []int{2}},
		dotCase{"two-batch-axes", []int{2, 3, 5, 6}, []int{2, 3, 6, 4}, []int{3}, []int{0, 1}, []int{2}, []int{0, 1}},
		dotCase{"two-contracting-axes", []int{4, 3, 5}, []int{3, 5, 6}, []int{1, 2}, nil, []int{0, 1}, nil},
		dotCase{"im2col", []int{2, 8, 8, 27}, []int{27, 16}, []int{3}, nil, []int{0}, nil},
		dotCase{"large", []int{300, 700}, []int{700, 531}, []int{1}, nil, []int{0}, nil},
		dotCase{"split-contracting", []int{3, 4, 5}, []int{3, 5, 2}, []int{0, 2}, nil, []int{0, 1}, nil},
		dotCase{"reversed-contracting", []int{4, 3, 5}, []int{5, 3, 6}, []int{2, 1}, nil, []int{0, 1}, nil},
		// The U-Net's im2col convolution: [positions, taps, batch, channels] patches.
		dotCase{"conv-forward", []int{16, 9, 4, 8}, []int{9, 8, 5}, []int{1, 3}, nil, []int{0, 1}, nil},
		dotCase{"conv-weight-grad", []int{16, 9, 4, 8}, []int{16, 4, 5}, []int{0, 2}, nil, []int{0, 1}, nil},
		dotCase{"interleaved-batch", []int{3, 2, 5, 4}, []int{4, 3, 6, 2}, []int{3}, []int{1, 0}, []int{0}, []int{3, 1}},
	)
}

func TestDotGeneralMatchesFloat64Reference(t *testing.T) {
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range dotCases() {
		t.Run(tc.name, func(t *testing.T) { checkDot(t, b, rng, tc, true) })
	}
}

// checkDot runs one DotGeneral on random data and compares it with a float64 reference,
// within float32 rounding of a k-term sum; wantFast says which kernel must have run.
func checkDot(t *testing.T, b backends.Backend, rng *rand.Rand, tc dotCase, wantFast bool) {
	t.Helper()
	l, r := randomData(rng, tc.lhs), randomData(rng, tc.rhs)
	fast0, fb0 := Calls()
	out := graph.MustExecOnce(b, func(x, y *graph.Node) *graph.Node {
		return graph.DotGeneral(x, tc.lhsC, tc.lhsB, y, tc.rhsC, tc.rhsB)
	}, tensors.FromFlatDataAndDimensions(l, tc.lhs...), tensors.FromFlatDataAndDimensions(r, tc.rhs...))
	fast1, fb1 := Calls()
	if ranFast := fast1 != fast0 && fb1 == fb0; ranFast != wantFast {
		t.Fatalf("fast kernel wanted: %v; fast calls +%d, fallbacks +%d (%v)", wantFast, fast1-fast0, fb1-fb0, Fallbacks())
	}
	got := tensors.MustCopyFlatData[float32](out)
	want := einsumRef(l, tc.lhs, r, tc.rhs, tc.lhsC, tc.lhsB, tc.rhsC, tc.rhsB)
	absL, absR := make([]float32, len(l)), make([]float32, len(r))
	for i := range l {
		absL[i] = float32(math.Abs(float64(l[i])))
	}
	for i := range r {
		absR[i] = float32(math.Abs(float64(r[i])))
	}
	scale := einsumRef(absL, tc.lhs, absR, tc.rhs, tc.lhsC, tc.lhsB, tc.rhsC, tc.rhsB)
	k := 1
	for _, ax := range tc.lhsC {
		k *= tc.lhs[ax]
	}
	bound := float64(k+2) * math.Pow(2, -23)
	if len(got) != len(want) {
		t.Fatalf("%d outputs, want %d", len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= bound*scale[i]) {
			t.Fatalf("output %d = %g, float64 reference %g (|diff| %g > %g)", i, got[i], want[i], d, bound*scale[i])
		}
	}
}

func TestNonFloat32UsesStockKernel(t *testing.T) {
	b := enabledBackend(t)
	fast0, _ := Calls()
	out := graph.MustExecOnce(b, func(x, y *graph.Node) *graph.Node { return graph.Dot(x, y) },
		[][]float64{{1, 2}, {3, 4}}, [][]float64{{5, 6}, {7, 8}})
	if got := out.Value().([][]float64); !reflect.DeepEqual(got, [][]float64{{19, 22}, {43, 50}}) {
		t.Fatalf("float64 product = %v", got)
	}
	if fast, _ := Calls(); fast != fast0 {
		t.Fatal("a float64 product ran on the float32 kernel")
	}
}

func TestSelfCheckCatchesACorruptKernel(t *testing.T) {
	requireKernel(t)
	var warn bytes.Buffer
	saved := warnings
	warnings = &warn
	SetCorruptForTest(true)
	ResetForTest()
	t.Cleanup(func() {
		SetCorruptForTest(false)
		ResetForTest()
		warnings = saved
	})
	Ensure(newBackend(t))
	if Active() {
		t.Fatal("a corrupt kernel passed the self-check")
	}
	if !strings.Contains(warn.String(), "warning: fast matmul disabled") || !strings.Contains(warn.String(), "self-check failed") {
		t.Fatalf("warning = %q", warn.String())
	}
	if strings.Count(warn.String(), "\n") != 1 {
		t.Fatalf("want one warning line, got %q", warn.String())
	}
	if k := Kernel(); !strings.HasPrefix(k, "gomlx-stock") {
		t.Fatalf("Kernel() = %q after a failed self-check", k)
	}
}

func TestSwitchingOff(t *testing.T) {
	b := enabledBackend(t)
	SetEnabled(false)
	defer SetEnabled(true)
	if Active() || !strings.Contains(Kernel(), "turned off") {
		t.Fatalf("after SetEnabled(false): active=%v kernel=%q", Active(), Kernel())
	}
	fast0, _ := Calls()
	graph.MustExecOnce(b, func(x, y *graph.Node) *graph.Node { return graph.Dot(x, y) },
		[][]float32{{1, 2}}, [][]float32{{5}, {7}})
	if fast, _ := Calls(); fast != fast0 {
		t.Fatal("the fast kernel ran while turned off")
	}
}
