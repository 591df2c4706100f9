package networks

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestDropoutOnlyWithARandomStream: a U-Net with dropout gives, without a random stream (the
// graphs that sample and evaluate), the very output of the same weights without dropout;
// with a stream (a training step's graph), an output that depends on the stream's state and
// is the same for the same state.
func TestDropoutOnlyWithARandomStream(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	for _, resBlocks := range []int{0, 1} {
		u := &UNet{Channels: 8, Mults: []int{1, 2}, Norm: NormGroup, ResBlocks: resBlocks, Dropout: 0.5}
		u.SetImageShape(4, 4, 1)
		if !u.NeedsRandom() {
			t.Fatal("a U-Net with dropout does not ask for random numbers")
		}
		ctx := context.New()
		ctx.SetParam(plugins.ParamConv, plugins.ConvIm2col)
		apply := func(net *UNet, stream bool) func(ctx *context.Context, x, state *Node) *Node {
			return func(ctx *context.Context, x, state *Node) *Node {
				if stream {
					ctx.SetGraphParam(x.Graph(), plugins.GraphParamRandom, plugins.NewRandom(state))
				}
				return net.Apply(ctx.In("model"), x, Const(x.Graph(), []int32{3, 7}), 16)
			}
		}
		plain := *u
		plain.Dropout = 0
		run := func(net *UNet, stream bool, seed int64) []float32 {
			state, err := RNGStateFromSeed(seed)
			if err != nil {
				t.Fatal(err)
			}
			x := tensors.FromFlatDataAndDimensions(randVec32(32, 5), 2, 16)
			return tensors.MustCopyFlatData[float32](context.MustNewExec(backend, ctx.Checked(false), apply(net, stream)).MustExec(x, state)[0])
		}
		ref := run(&plain, false, 1) // creates the variables
		for v := range ctx.IterVariables() {
			if v.Trainable { // the zero-initialised layers would hide the blocks
				val, _ := v.Value()
				_ = v.SetValue(tensors.FromFlatDataAndDimensions(randVec32(val.Size(), 9), val.Shape().Dimensions...))
			}
		}
		ref = run(&plain, false, 1)
		if got := run(u, false, 1); !sameBits(got, ref) {
			t.Errorf("res_blocks %d: without a random stream, dropout changed the output", resBlocks)
		}
		a, b, c := run(u, true, 1), run(u, true, 1), run(u, true, 2)
		if !sameBits(a, b) {
			t.Errorf("res_blocks %d: the same random state gave different outputs", resBlocks)
		}
		if sameBits(a, ref) || sameBits(a, c) {
			t.Errorf("res_blocks %d: with a random stream, dropout did nothing or ignored the state", resBlocks)
		}
	}
}

func randVec32(n int, seed uint64) []float32 {
	v := make([]float32, n)
	for i, x := range randVec(newRand(seed), n) {
		v[i] = float32(x) * 0.3
	}
	return v
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }
