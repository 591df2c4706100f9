package engine

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
)

// labelNet outputs each example's label as its value: cond gives the class, uncond the
// "no class" label.
type labelNet struct{ classes int }

func (n *labelNet) Apply(ctx *gctx.Context, xt, t *Node, outDim int) *Node { return ZerosLike(xt) }
func (n *labelNet) SetClasses(c int)                                       { n.classes = c }
func (n *labelNet) ApplyClass(ctx *gctx.Context, xt, t, label *Node, outDim int) *Node {
	l := ExpandAxes(ConvertDType(label, xt.DType()), -1)
	return Add(ZerosLike(xt), l)
}

// Guidance mixes the conditional and unconditional outputs as uncond + s (cond - uncond),
// with one network evaluation at s = 0 and 1 and two otherwise.
func TestGuidanceMixesAndCountsEvaluations(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	labels := []int32{0, 1, 2}
	for _, s := range []float64{0, 1, 3, 0.5} {
		j := &Job{Data: fakeImages{1, 2, 1}, Diffusion: &diffusion.Diffusion{Parameterization: diffusion.Parameterization{Mean: diffusion.MeanEps, Variance: diffusion.VarFixedSmall}},
			Net: &labelNet{}, ClassCond: true, Classes: 3, Guidance: s}
		evals := 0
		out := MustNewExec(backend, func(x, l *Node) *Node {
			return j.guided(gctx.New(), x, ZerosLike(l), l, &evals)
		}).MustExec(tensors.FromFlatDataAndDimensions(make([]float32, 6), 3, 2), labels)[0]
		got := tensors.MustCopyFlatData[float32](out)
		for i, l := range labels {
			want := 3 + s*(float64(l)-3)
			if math.Abs(float64(got[2*i])-want) > 1e-6 {
				t.Errorf("s = %g, class %d: %v, want %v", s, l, got[2*i], want)
			}
		}
		wantEvals := 2
		if s == 0 || s == 1 {
			wantEvals = 1
		}
		if evals != wantEvals {
			t.Errorf("s = %g: %d evaluations, want %d", s, evals, wantEvals)
		}
	}
}

func TestLabelsAndGridRows(t *testing.T) {
	j := &Job{ClassCond: true, Classes: 3}
	if got := j.sampleLabels(7); got[0] != 0 || got[4] != 1 || got[5] != 2 || got[6] != 0 {
		t.Errorf("sample labels %v, want i mod 3", got)
	}
	labels := make([]int32, 1000)
	u := 0
	dropLabels(labels, 3, 0.25, func() float64 { u = (u*7919 + 13) % 1000; return float64(u) / 1000 })
	dropped := 0
	for _, l := range labels {
		if l == 3 {
			dropped++
		}
	}
	if dropped < 200 || dropped > 300 {
		t.Errorf("%d of 1000 labels dropped at p = 0.25", dropped)
	}
	samples := []float32{10, 11, 20, 21, 12, 22} // dim 1: classes 0, 1, 0, 1, 0, 1 with values 10+k, 20+k
	rows := classRows(samples, []int32{0, 0, 1, 1, 0, 1}, 1, 2, 2)
	want := []float32{10, 11, 20, 21}
	for i := range want {
		if rows[i] != want[i] {
			t.Fatalf("grid order %v, want %v (two of class 0, then two of class 1)", rows, want)
		}
	}
}
