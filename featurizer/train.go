package featurizer

import (
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/ddpm-runner/ddpm-runner/networks"
)

// TrainConfig sets how the classifier is trained.
type TrainConfig struct {
	Seed   uint64
	Epochs int
	Batch  int
	LR     float64
	Log    io.Writer
}

// Train fits the classifier on 28x28 images (MNIST or Fashion-MNIST; 8-bit, row-major) with Adam and random
// shifts of up to two pixels, and returns its weights (W [in, out] row-major and b per
// layer). The result is a pure function of the data and the config on a given backend.
func Train(backend backends.Backend, images [][]byte, labels []int, cfg TrainConfig) (ws, bs [][]float32, err error) {
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return nil, nil, err
	}
	model := func(ctx *context.Context, _ any, inputs []*Node) []*Node {
		x, onehot := inputs[0], inputs[1]
		logits := logitsGraph(ctx, x)
		mx := StopGradient(ReduceAndKeep(logits, ReduceMax, -1))
		lse := Add(Log(ReduceSum(Exp(Sub(logits, mx)), -1)), Squeeze(mx, -1))
		loss := ReduceAllMean(Sub(lse, ReduceSum(Mul(onehot, logits), -1)))
		train.AddLoss(ctx, loss)
		return []*Node{loss}
	}
	trainer := train.NewTrainer(backend, ctx, model, nil, optimizers.Adam().LearningRate(cfg.LR).Done(), nil, nil)
	n := len(images)
	steps := n / cfg.Batch
	x := make([]float32, cfg.Batch*784)
	oh := make([]float32, cfg.Batch*10)
	for epoch := range cfg.Epochs {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(epoch)))
		perm := rng.Perm(n)
		if epoch == cfg.Epochs-1 {
			// A last epoch at a tenth of the rate settles the weights.
			optimizers.LearningRateVar(ctx, dtypes.Float32, cfg.LR).MustSetValue(tensors.FromScalar(float32(cfg.LR / 10)))
		}
		var sum float64
		for s := range steps {
			clear(oh)
			for i := range cfg.Batch {
				k := perm[s*cfg.Batch+i]
				shift(images[k], x[i*784:(i+1)*784], rng.IntN(5)-2, rng.IntN(5)-2)
				oh[i*10+labels[k]] = 1
			}
			out, err := trainer.TrainStep(nil, []*tensors.Tensor{
				tensors.FromFlatDataAndDimensions(x, cfg.Batch, 784),
				tensors.FromFlatDataAndDimensions(oh, cfg.Batch, 10)}, nil)
			if err != nil {
				return nil, nil, err
			}
			sum += float64(out[0].Value().(float32))
		}
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "epoch %d/%d: mean loss %.4f\n", epoch+1, cfg.Epochs, sum/float64(steps))
		}
	}
	for i := 0; i+1 < len(Widths); i++ {
		for _, name := range []string{"weights", "biases"} {
			v := ctx.InspectVariable(fmt.Sprintf("/classifier/layer%d", i), name)
			if v == nil {
				return nil, nil, fmt.Errorf("featurizer: no variable layer%d/%s", i, name)
			}
			t, err := v.Value()
			if err != nil {
				return nil, nil, err
			}
			flat := tensors.MustCopyFlatData[float32](t)
			if name == "weights" {
				ws = append(ws, flat)
			} else {
				bs = append(bs, flat)
			}
		}
	}
	return ws, bs, nil
}

func logitsGraph(ctx *context.Context, x *Node) *Node {
	h := x
	for i := 1; i < len(Widths); i++ {
		h = networks.Dense(ctx.In("classifier").Inf("layer%d", i-1), h, Widths[i])
		if i < len(Widths)-1 {
			h = Max(h, ZerosLike(h))
		}
	}
	return h
}

// shift copies a 28x28 image into dst (as [-1, 1] floats) moved by (dx, dy) pixels, with
// background filling the uncovered border.
func shift(src []byte, dst []float32, dx, dy int) {
	for y := range 28 {
		for x := range 28 {
			sx, sy := x-dx, y-dy
			v := float32(-1)
			if sx >= 0 && sx < 28 && sy >= 0 && sy < 28 {
				v = float32(src[sy*28+sx])/127.5 - 1
			}
			dst[y*28+x] = v
		}
	}
}
