package backend

import (
	"reflect"
	"slices"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// The stock gradient of DotGeneral in GoMLX v0.26.0 broadcasts the output gradient against
// the other operand and reduces it, which on the pure-Go backend builds huge intermediate
// tensors: an MLP DDPM step ran about 13x slower than with two matmuls. DotGeneralVJP
// expresses both operand gradients as DotGenerals instead.

var (
	dotGradientOnce sync.Once
	// stockDotGeneralVJP is GoMLX's own gradient, kept for benchmarks and tests that compare.
	stockDotGeneralVJP graph.VJP
)

// InstallDotGradient registers DotGeneralVJP as the gradient of DotGeneral for every graph
// the process builds from then on (graph.VJPRegistration is GoMLX's documented hook, one
// per process). New calls it; code that builds graphs on a backend made otherwise calls it
// first. Calls after the first do nothing.
func InstallDotGradient() {
	dotGradientOnce.Do(func() {
		stockDotGeneralVJP = graph.VJPRegistration[graph.NodeTypeDotGeneral]
		graph.VJPRegistration[graph.NodeTypeDotGeneral] = func(node *graph.Node, v []*graph.Node, _ shapes.Shape) []*graph.Node {
			return DotGeneralVJP(node, v[0])
		}
	})
}

// UseStockDotGradient puts GoMLX's own DotGeneral gradient back in place of DotGeneralVJP
// for graphs built until restore is called (benchmarks that measure what it saves).
func UseStockDotGradient() (restore func()) {
	InstallDotGradient()
	ours := graph.VJPRegistration[graph.NodeTypeDotGeneral]
	graph.VJPRegistration[graph.NodeTypeDotGeneral] = stockDotGeneralVJP
	return func() { graph.VJPRegistration[graph.NodeTypeDotGeneral] = ours }
}

// DotGeneralVJP returns the gradients of out = DotGeneral(lhs, lc, lb, rhs, rc, rb) with
// respect to lhs and rhs, given v = dLoss/dOut.
//
// The output's axes are [batch..., lhs free..., rhs free...]. The gradient for lhs contracts
// v's rhs-free axes with rhs's free axes, batching over the batch axes; the result's axes are
// [batch..., lhs free..., rhs contracting axes in ascending order], which a transpose puts
// back in lhs's own order. The rhs gradient is the mirror image.
func DotGeneralVJP(node, v *graph.Node) []*graph.Node {
	inputs := node.Inputs()
	lhs, rhs := inputs[0], inputs[1]
	lc, lb, rc, rb := dotGeneralAxes(node)
	lFree := freeAxes(lhs.Rank(), lc, lb)
	rFree := freeAxes(rhs.Rank(), rc, rb)
	nb, nlf, nrf := len(lb), len(lFree), len(rFree)
	vBatch := iotaFrom(0, nb)
	vLFree := iotaFrom(nb, nlf)
	vRFree := iotaFrom(nb+nlf, nrf)

	// dLhs: [batch..., lhs free..., remaining rhs axes (= rc, ascending)].
	dl := graph.DotGeneral(v, vRFree, vBatch, rhs, rFree, rb)
	lhsAxesOfResult := append(append(slices.Clone(lb), lFree...), partnersAscending(rc, lc)...)
	dl = transposeBack(dl, lhsAxesOfResult)

	// dRhs: [batch..., remaining lhs axes (= lc, ascending), rhs free...].
	dr := graph.DotGeneral(lhs, lFree, lb, v, vLFree, vBatch)
	rhsAxesOfResult := append(append(slices.Clone(rb), partnersAscending(lc, rc)...), rFree...)
	dr = transposeBack(dr, rhsAxesOfResult)
	return []*graph.Node{dl, dr}
}

// partnersAscending lists, for each axis of `own` taken in ascending order, the paired axis
// of the other operand (pairs are matched by position in own and other).
func partnersAscending(own, other []int) []int {
	sorted := slices.Clone(own)
	slices.Sort(sorted)
	out := make([]int, len(sorted))
	for i, a := range sorted {
		out[i] = other[slices.Index(own, a)]
	}
	return out
}

// transposeBack permutes x, whose axis i is operand axis axesOfResult[i], into the operand's
// axis order.
func transposeBack(x *graph.Node, axesOfResult []int) *graph.Node {
	perm := make([]int, len(axesOfResult))
	identity := true
	for i, a := range axesOfResult {
		perm[a] = i
		if a != i {
			identity = false
		}
	}
	if identity {
		return x
	}
	return graph.TransposeAllAxes(x, perm...)
}

func freeAxes(rank int, contracting, batch []int) []int {
	var out []int
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

func iotaFrom(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}

// dotGeneralAxes reads the contracting and batch axes of a DotGeneral node. GoMLX v0.26.0
// keeps them in the node's unexported inputs struct and exports no accessor, so they are
// read by reflection (read-only); TestDotGeneralVJPPinned fails clearly if the layout changes.
func dotGeneralAxes(node *graph.Node) (lc, lb, rc, rb []int) {
	in := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !in.IsValid() || in.IsNil() {
		panic("backend: GoMLX DotGeneral node layout changed: no inputs field (DotGeneralVJP is pinned to GoMLX v0.26.0)")
	}
	st := in.Elem()
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	read := func(name string) []int {
		f := st.FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.Slice {
			panic("backend: GoMLX DotGeneral node layout changed: no field " + name + " (DotGeneralVJP is pinned to GoMLX v0.26.0)")
		}
		out := make([]int, f.Len())
		for i := range out {
			out[i] = int(f.Index(i).Int())
		}
		return out
	}
	return read("lhsContractingAxes"), read("lhsBatchAxes"), read("rhsContractingAxes"), read("rhsBatchAxes")
}
