package engine

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	gmetrics "github.com/gomlx/gomlx/pkg/ml/train/metrics"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// Scopes of the context: the network's weights and their exponential moving average.
const (
	modelScope = "model"
	emaScope   = "ema"
)

// trainOutputs are the per-step values the training graph returns, in order, after the
// trainer's own batch loss and moving-average loss.
var trainOutputs = []string{"per_example", "mse", "vlb_t", "vlb_quartiles"}

// vlbQuartiles is how many groups of t the logged L_t is also broken into (improved-diffusion
// logs its terms by quartile of t).
const vlbQuartiles = 4

// logStep is the trainer spec of the steps whose MSE and L_t are logged. Other steps (spec
// nil) run a graph without them: L_t needs the posterior, the reverse mean and a KL over
// every value (the reference MLP step ran 68.6 steps/s without them, 62.9 with), and it is
// only logged every log_every steps.
const logStep = "log"

// trainModelFn builds the training graph: q_sample x_t from (x_0, t, eps), run the network,
// and add the (importance-weighted) loss; the fifth input lists the rows with t = 0 (see
// diffusion.DecoderRows). It returns the per-example loss (for the timestep sampler) and,
// when spec is logStep, the batch means of the MSE and of L_t, which every run logs whatever
// its loss (zeros otherwise).
func (j *Job) trainModelFn(ctx *gctx.Context, spec any, inputs []*Node) []*Node {
	x0, t, noise := inputs[x0Input], inputs[timestepsInput], inputs[noiseInput]
	weights, decoderRows := inputs[weightsInput], inputs[decoderRowsInput]
	var label *Node
	if j.ClassCond {
		label = inputs[labelsInput]
	}
	if j.needsRandom() {
		ctx.SetGraphParam(x0.Graph(), plugins.GraphParamRandom, plugins.NewRandom(inputs[j.randomInput()]))
	}
	d := j.Diffusion
	b := d.NewBatch(x0, t, noise, func(xt, t *Node) *Node { return j.network(ctx, xt, t, label) })
	b.DecoderRows = decoderRows
	perExample := j.Loss.Loss(plugins.LossInput{Diffusion: d, Batch: b})
	train.AddLoss(ctx, ReduceAllMean(Mul(weights, perExample)))
	if spec != logStep {
		zero := ScalarZero(x0.Graph(), perExample.DType())
		return []*Node{StopGradient(perExample), zero, zero, Zeros(x0.Graph(), shapes.Make(perExample.DType(), 2*vlbQuartiles))}
	}
	mse := ReduceAllMean(StopGradient(d.MSE(b)))
	vlbTerms := StopGradient(d.VLBTerm(b, false, false))
	return []*Node{StopGradient(perExample), mse, ReduceAllMean(vlbTerms), quartileSums(vlbTerms, t, d.T)}
}

// quartileSums returns, for each quartile q of t (t in [q T/4, (q+1) T/4)), the sum of the
// batch's L_t in it, then the number of examples in it: [sum_0..sum_3, count_0..count_3].
func quartileSums(terms, t *Node, T int) *Node {
	q := MinScalar(DivScalar(MulScalar(t, vlbQuartiles), float64(T)), vlbQuartiles-1)
	var sums, counts []*Node
	for k := range vlbQuartiles {
		mask := ConvertDType(Equal(q, Scalar(t.Graph(), t.DType(), k)), terms.DType())
		sums = append(sums, ReduceAllSum(Mul(terms, mask)))
		counts = append(counts, ReduceAllSum(mask))
	}
	return Stack(append(sums, counts...), 0)
}

// passthrough is a train metric that returns one of the model outputs unchanged, so that
// the trainer's TrainStep hands it back (GoMLX's own metrics must be scalars).
type passthrough struct {
	name  string
	index int
}

func (m passthrough) Name() string                                    { return m.name }
func (m passthrough) ShortName() string                               { return m.name }
func (m passthrough) MetricType() string                              { return "output" }
func (m passthrough) ScopeName() string                               { return "passthrough_" + m.name }
func (m passthrough) PrettyPrint(v *tensors.Tensor) string            { return fmt.Sprint(v.Value()) }
func (m passthrough) Reset(*gctx.Context)                             {}
func (m passthrough) UpdateGraph(_ *gctx.Context, _, p []*Node) *Node { return p[m.index] }

var _ gmetrics.Interface = passthrough{}

// optimizer is Adam (with decoupled weight decay) plus what DDPM training adds around it:
// clipping of the global gradient norm, linear learning-rate warmup, and an exponential
// moving average of the weights, all inside the training graph.
type optimizer struct {
	adam   gradientOptimizer
	lr     float64
	warmup int
	clip   float64
	// emaDecays are the decays of the weights' EMAs, the first in scope emaScope and the
	// others in emaScopeOf(k); none when train.ema is 0.
	emaDecays []float64
}

// gradientOptimizer is an optimizer that can apply gradients computed elsewhere (GoMLX's
// Adam can; its Interface does not say so).
type gradientOptimizer interface {
	optimizers.Interface
	UpdateGraphWithGradients(ctx *gctx.Context, grads []*Node, lossDType dtypes.DType)
}

// UpdateGraph implements optimizers.Interface.
func (o *optimizer) UpdateGraph(ctx *gctx.Context, g *Graph, loss *Node) {
	grads := ctx.BuildTrainableVariablesGradientsGraph(loss)
	if o.clip > 0 {
		var sq *Node
		for _, gr := range grads {
			s := ReduceAllSum(Square(gr))
			if sq == nil {
				sq = s
			} else {
				sq = Add(sq, s)
			}
		}
		norm := Sqrt(sq)
		scale := Min(ScalarOne(g, norm.DType()), Div(Scalar(g, norm.DType(), o.clip), AddScalar(norm, 1e-6)))
		for i := range grads {
			grads[i] = Mul(grads[i], ConvertDType(scale, grads[i].DType()))
		}
	}
	// Warmup: lr_step = lr * min(1, step / warmup), with step counting from 1. The learning
	// rate variable is set inside the graph so that the schedule is part of the checkpoint.
	lrVar := optimizers.LearningRateVar(ctx, dtypes.Float32, o.lr)
	if o.warmup > 0 {
		step := ConvertDType(AddScalar(optimizers.GetGlobalStepVar(ctx).ValueGraph(g), 1), dtypes.Float32)
		factor := Min(ScalarOne(g, dtypes.Float32), DivScalar(step, float64(o.warmup)))
		lrVar.SetValueGraph(MulScalar(factor, o.lr))
	} else {
		lrVar.SetValueGraph(Scalar(g, dtypes.Float32, o.lr))
	}
	o.adam.UpdateGraphWithGradients(ctx, grads, loss.DType())
	for k, decay := range o.emaDecays {
		o.updateEMA(ctx, g, emaScopeOf(k), decay)
	}
}

// emaRates are a trial's EMA decays (train.ema, a rate or a list of rates); none for 0.
func emaRates(t *spec.Trial) []float64 {
	rates := t.Settings.Train.EMA
	if len(rates) == 1 && rates[0] == 0 {
		return nil
	}
	return rates
}

// emaScopeOf is the scope of the k-th EMA of the weights: emaScope for the first (as before
// there were several), ema1, ema2, ... for the others.
func emaScopeOf(k int) string {
	if k == 0 {
		return emaScope
	}
	return fmt.Sprintf("%s%d", emaScope, k)
}

// updateEMA keeps ema = decay * ema + (1 - decay) * w for every model weight in the given
// scope, starting from the weights after the first step.
func (o *optimizer) updateEMA(ctx *gctx.Context, g *Graph, scope string, decay float64) {
	first := Equal(optimizers.GetGlobalStepVar(ctx).ValueGraph(g), Scalar(g, dtypes.Int64, 1))
	zeros := func(g *Graph, s shapes.Shape) *Node { return Zeros(g, s) }
	var model []*gctx.Variable
	for v := range ctx.IterVariables() {
		if v.Trainable && isUnder(v.Scope(), "/"+modelScope) {
			model = append(model, v)
		}
	}
	for _, v := range model {
		ema := ctx.InAbsPath("/"+scope+v.Scope()).Checked(false).WithInitializer(zeros).
			VariableWithShape(v.Name(), v.Shape()).SetTrainable(false)
		w := v.ValueGraph(g)
		avg := Add(MulScalar(ema.ValueGraph(g), decay), MulScalar(w, 1-decay))
		ema.SetValueGraph(Where(first, w, avg))
	}
}

// UpdateGraphWithGradients implements optimizers.Interface.
func (o *optimizer) UpdateGraphWithGradients(ctx *gctx.Context, grads []*Node, dt dtypes.DType) {
	o.adam.UpdateGraphWithGradients(ctx, grads, dt)
}

// Clear implements optimizers.Interface.
func (o *optimizer) Clear(ctx *gctx.Context) error { return o.adam.Clear(ctx) }

func isUnder(scope, prefix string) bool {
	return scope == prefix || (len(scope) > len(prefix) && scope[:len(prefix)] == prefix && scope[len(prefix)] == '/')
}

// evalContext fills out (a fresh context) with the weights used for sampling and evaluation: the
// EMA of the trained weights in scope emaScopeName, or the weights themselves when it is "".
func evalContext(trained, out *gctx.Context, emaScopeName string) (*gctx.Context, error) {
	useEMA := emaScopeName != ""
	for v := range trained.IterVariables() {
		if !v.Trainable || !isUnder(v.Scope(), "/"+modelScope) {
			continue
		}
		value, err := v.Value()
		if err != nil {
			return nil, err
		}
		if useEMA {
			ema := trained.InspectVariable("/"+emaScopeName+v.Scope(), v.Name())
			if ema == nil {
				return nil, fmt.Errorf("no EMA for %s/%s", v.Scope(), v.Name())
			}
			if value, err = ema.Value(); err != nil {
				return nil, err
			}
		}
		clone, err := value.LocalClone()
		if err != nil {
			return nil, err
		}
		out.InAbsPath(v.Scope()).VariableWithValue(v.Name(), clone)
	}
	return out.Reuse(), nil
}

// sampleStepFn builds one step of the sampler's chain on a batch (the chain's first or last
// step, or one between): the sampler works on its plan's step index i, and the network it
// calls is told the original timestep of the index it asks about. Every call of the network
// adds one to evals.
func (j *Job) sampleStepFn(first, last bool, evals *int) func(ctx *gctx.Context, x, state, i, noise, label *Node) []*Node {
	return func(ctx *gctx.Context, x, state, i, noise, label *Node) []*Node {
		netT := make([]int32, len(j.SampleTimesteps))
		for k, t := range j.SampleTimesteps {
			netT[k] = int32(t)
		}
		table := Const(x.Graph(), netT)
		model := func(x, i *Node) *Node {
			t := Reshape(Gather(table, ExpandAxes(i, -1)), i.Shape().Dimensions...)
			return j.guided(ctx, x, t, label, evals)
		}
		next, st := j.Sampler.Step(plugins.SamplerStep{Diffusion: j.Diffusion.OnChain(j.SampleProcess), Model: model,
			X: x, State: state, I: i, Noise: noise, First: first, Last: last, Clip: j.clip()})
		return []*Node{next, st}
	}
}

// clip says whether x0-hat is clipped to [-1, 1]: only for data that live there (images).
func (j *Job) clip() bool {
	return j.Data.Discrete() && j.Trial.Settings.Sample.ClipDenoised
}

// boundTermFn computes L_t per example (nats/dim) for the examples x0 at timesteps t.
func (j *Job) boundTermFn(ctx *gctx.Context, x0, t, noise *Node) *Node {
	return j.Diffusion.BoundTerm(x0, t, noise, func(xt, t *Node) *Node {
		var noClass *Node // a class-conditional model's bound is that of its unconditional model
		if j.ClassCond {
			noClass = AddScalar(ZerosLike(t), float64(j.Classes))
		}
		return j.network(ctx, xt, t, noClass)
	}, j.clip())
}
