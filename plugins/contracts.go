package plugins

import (
	stdctx "context"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
)

// Node is a GoMLX graph node; the contracts below build graph code.
type Node = graph.Node

// Schedule is the contract of a beta-schedule plugin: it returns beta_1..beta_T (stored at
// indices 0..T-1) computed in float64. Everything derived from the betas is computed in one
// place, diffusion.NewProcess, never by the plugin.
type Schedule interface {
	Betas(T int) ([]float64, error)
}

// Predictor is the contract of a predictor plugin: what the network's output means, as a
// diffusion.Parameterization (a mean and a variance parameterisation, each with its
// formulas). A diffusion.Parameterization is itself a Predictor; the shipped predictors are
// diffusion's tables (diffusion.Means, diffusion.Variances), and a plugin may declare a
// diffusion.MeanType or VarType of its own.
type Predictor interface {
	Parameterization() diffusion.Parameterization
}

// LossInput is everything a loss may look at for one batch: the trial's diffusion (its chain,
// parameterisation and data kind, whose methods are the training losses: MSE, VLBTerm,
// SimpleLoss, VLBLoss, HybridLoss) and the batch.
type LossInput struct {
	Diffusion *diffusion.Diffusion
	Batch     diffusion.Batch
}

// PredictorChecker is implemented by a Loss that works with some predictors only: the engine
// asks it before a run starts, and its error stops the run before anything is written.
type PredictorChecker interface {
	CheckPredictor(p Predictor) error
}

// Loss is the contract of a loss plugin: the per-example loss to minimise. (The engine logs
// the MSE and VLB terms of every run, whatever its loss.)
type Loss interface {
	Loss(in LossInput) (perExample *Node)
}

// Dataset is the contract of a data plugin. Examples are flat float32 vectors of Dim()
// values in the range the model sees ([-1, 1] for images).
type Dataset interface {
	// Dim is the number of values per example.
	Dim() int
	// Discrete reports 8-bit data (likelihoods in bits/dim with the discretized decoder);
	// otherwise data are continuous and likelihoods are densities in nats/dim.
	Discrete() bool
	// Train fills dst (n*Dim values) with the n training examples of one step. They are a
	// pure function of (seed, step), so a run resumed at a step sees the same data.
	Train(seed uint64, step, n int, dst []float32)
	// HeldOut returns n examples never used for training, the same for the same n.
	HeldOut(n int) []float32
}

// Network is the contract of a denoiser network: given x_t [batch, dim] and t [batch]
// (int32), it returns outDim values per example. Its variables live in ctx.
type Network interface {
	Apply(ctx *context.Context, xt, t *Node, outDim int) *Node
}

// Sampler is the contract of a sampler plugin: it picks the timesteps a chain visits and
// how one step moves from x at one step of the plan to the next.
type Sampler interface {
	// Plan returns the process the sampler runs on (possibly respaced to fewer steps) and,
	// for each of its steps, the timestep of the original chain that the network is told.
	Plan(p *diffusion.Process) (*diffusion.Process, []int, error)
	// Step builds one reverse step of the plan, from s.X at step index s.I to the next x,
	// and the state that the next step receives.
	Step(s SamplerStep) (x, state *Node)
}

// SamplerStep is what one step of a sampler's chain is built from. The chain runs the
// plan's indices from its last (the noisiest) down to 0; the step at index 0 ends at t = 0.
type SamplerStep struct {
	// Diffusion is the trial's diffusion on the plan's chain (indexed by plan step): its
	// PSample is an ancestral step, its X0AndEps what the other samplers step with.
	Diffusion *diffusion.Diffusion
	// Model runs the network on x at plan step i ([batch] int32) and returns its raw output
	// (to be read with Diffusion's methods). Each call is one network evaluation per
	// example: the NFE the run records counts them.
	Model func(x, i *Node) *Node
	X     *Node // the chain's current x, at step I
	// State is what the previous step returned as state (zeros at the first step), shaped
	// like X: a multistep solver keeps its last x_0-hat there.
	State *Node
	I     *Node // the plan step index, [batch] int32
	Noise *Node // standard normal noise shaped like X, fresh at every step
	// First and Last mark the chain's first step (from the plan's last index) and its final
	// one (index 0): solvers that treat them differently build them as other graphs.
	First, Last bool
	Clip        bool // clip x_0-hat to [-1, 1]
}

// ZeroSNRRefuser is implemented by a Sampler that cannot run a chain that ends at
// alpha_bar_T = 0 (zero terminal SNR, sigma_T = infinity): the engine asks it before a run on
// such a chain starts, and refuses the run with its reasons and the chain's cause.
type ZeroSNRRefuser interface {
	// RefuseZeroSNR says why the sampler cannot ("cannot start at sigma = infinity") and what
	// to use instead.
	RefuseZeroSNR() (why, instead string)
}

// EvalInput is what a metric can use: samples drawn from the trained model, held-out data,
// and, for likelihoods, a function that computes the full bound on given examples.
type EvalInput struct {
	Dim      int
	Discrete bool
	// H, W, C give the image layout of an example (HWC order); zero for data that are not images.
	H, W, C int
	// Featurizer names the shipped classifier the data name (plugins.FeaturizedData); empty
	// for data that name none.
	Featurizer string
	Samples    []float32 // n*Dim values
	// SampleLabels are the classes the samples were drawn for (class-conditional models);
	// nil otherwise.
	SampleLabels []int
	HeldOut      []float32 // m*Dim values
	Train        []float32 // training examples, as many as HeldOut
	// N is how many held-out examples the evaluation asked for (eval.n; eval.n_during during
	// training): HeldOut holds fewer where the held-out split is smaller.
	N int
	// TrainExamples returns n training examples from the stream Train comes from (Train is its
	// first examples), for a metric whose reference is the training split at eval.n (CIFAR-10's
	// 50,000 where its test split has 10,000); nil where there are none.
	TrainExamples func(n int) []float32
	// Bound computes the variational bound per dimension on examples (prior, sum of the L_t
	// terms, decoder), averaged over them, in nats per dimension.
	Bound func(x []float32) (prior, terms, decoder float64, err error)
	// ArtifactDir is where a metric may write files (plots); empty for none.
	ArtifactDir string
	// CacheDir is a folder, shared by the runs of one database, where a metric may keep what
	// it computed from data rather than from the model (the Inception statistics of the
	// reference data), under names it derives from what the values depend on; empty for none.
	CacheDir string
	// Backend is the run's GoMLX backend, for a metric that runs a network (the Inception);
	// nil where there is none.
	Backend backends.Backend
	// Context is cancelled when the run is interrupted (SIGINT, SIGTERM); a metric that
	// runs for more than a second should stop soon after and return its error. Bound
	// watches it already. Nil means never cancelled.
	Context stdctx.Context
}

// EvalResult is what a metric reports: summary values, artifact files it wrote (name ->
// path), and provenance notes (for example which featurizer a distance used).
type EvalResult struct {
	Values    map[string]float64
	Artifacts map[string]string
	Notes     map[string]string
}

// Metric is the contract of a metric plugin.
type Metric interface {
	Evaluate(in EvalInput) (EvalResult, error)
}

// MetricSetup is what a PreparedMetric is prepared with: the [eval] keys that choose a
// featurizer and a reference, with files resolved against the spec's folder, and the data's
// layout.
type MetricSetup struct {
	// Featurizer is [eval] featurizer: "auto", "classifier" or "inception".
	Featurizer string
	// Inception is [eval] inception, the Inception weights file ("" for the usual places).
	Inception string
	// Reference is [eval] reference, a pytorch-fid statistics file ("" for none), and
	// ReferenceSplit [eval] reference_split: "train" or "test".
	Reference, ReferenceSplit string
	// H, W, C give the data's image layout; zero for data that are not images.
	H, W, C int
	// DataFeaturizer names the shipped classifier the data name (FeaturizedData); empty for none.
	DataFeaturizer string
}

// PreparedMetric is implemented by a metric that needs more than the data to run (the
// Inception weights, a reference statistics file): the engine calls Prepare when it prepares
// a run, before any training, and refuses the run with its error, so that a missing file is
// heard of before hours of training rather than after.
type PreparedMetric interface {
	Prepare(s MetricSetup) error
}

// ImageData is implemented by datasets of images: examples are H*W*C values in HWC order.
type ImageData interface {
	ImageShape() (h, w, c int)
}

// DeferredData is implemented by a dataset whose constructor reads no file: what a spec is
// checked and inspected with (its Dim, Discrete, ImageShape, Classes, MemoryBytes) follows
// from its parameters, so that `runner run --dry-run` and `runner submit` work where the files
// are absent. The engine calls Load before a run starts and refuses the run with its error
// (nothing is written); Train and HeldOut are called only after Load has succeeded. Load may
// be called more than once (trials share datasets) and reads the files once.
type DeferredData interface {
	Load() error
}

// FeaturizedData is implemented by a dataset that names the shipped classifier whose
// features the classifier-based metrics (fid, is, kid, ...) use on it: a classifier
// trained on that data ("mnist_mlp", "fashion_mnist_mlp"; see package featurizer).
type FeaturizedData interface {
	Featurizer() string
}

// LabeledData is implemented by a dataset whose examples have class labels, for
// class-conditional training (train.class_cond).
type LabeledData interface {
	// Classes is the number of classes; labels are 0..Classes()-1.
	Classes() int
	// TrainLabeled is Train with the examples' labels in labels (n values).
	TrainLabeled(seed uint64, step, n int, dst []float32, labels []int32)
}

// ClassNetwork is implemented by a network that can be conditioned on a class label: label
// is [batch] int32 in 0..classes, where classes itself means "no class" (the label dropped,
// for classifier-free guidance). SetClasses is called before the first Apply.
type ClassNetwork interface {
	SetClasses(classes int)
	ApplyClass(ctx *context.Context, xt, t, label *Node, outDim int) *Node
}

// ImageNetwork is implemented by networks that need the image layout of the data (a U-Net);
// the engine calls SetImageShape before training and fails for data that are not images.
type ImageNetwork interface {
	SetImageShape(h, w, c int)
}

// SizedNetwork is implemented by networks that can say how much memory they take, so that a
// run that cannot fit is refused before it starts (see engine.EstimateMemory). A network
// without it is left out of the estimate.
type SizedNetwork interface {
	// Size returns the number of parameters for inputs of dim values and outDim outputs, and
	// how many float values one example's forward pass produces (what the backward pass
	// keeps), counting every intermediate tensor.
	Size(dim, outDim int) (params, activations int64)
}

// SizedDataset is implemented by datasets that can say how much memory they take, so that
// the memory estimate counts them (see engine.EstimateMemory). A dataset without it is left
// out of the estimate, beyond the batches drawn from it.
type SizedDataset interface {
	// MemoryBytes returns the bytes the dataset keeps for the whole run, and the most it
	// held beside them while it was built (a file decoded at full size, for instance).
	MemoryBytes() (resident, loading int64)
}

// TimestepSampler is the contract of a timesteps plugin ([loss] timesteps): it draws the
// training timesteps of each batch and the weights that keep the loss unbiased.
type TimestepSampler interface {
	// Init prepares the sampler for a chain of T steps; it is called once, before the rest.
	Init(T int)
	// Sample draws n timesteps into t and their importance weights 1/(T p_t) into w.
	Sample(rng *rand.Rand, t []int32, w []float32)
	// Update gives the sampler the per-example losses of the last batch.
	Update(t []int32, losses []float32)
	// State is what a checkpoint must keep for a resumed run to draw the same timesteps,
	// and SetState puts such a state back. A state of another sampler, or of one with a
	// different T, is an error, never silently accepted.
	State() ([]byte, error)
	SetState(b []byte) error
}

// LossFreeSampler is implemented by a TimestepSampler whose draws do not depend on the
// losses that Update gives it (uniform sampling does not look at them). The engine then draws
// a step's batch while the step before it trains; the numbers are the same either way,
// because a batch is a pure function of (seed, step) and of the sampler's state.
type LossFreeSampler interface {
	TimestepSampler
	// LossFree reports that Sample ignores Update.
	LossFree() bool
}

// NewTimestepSampler builds the named timesteps plugin for a chain of T steps.
func NewTimestepSampler(name string, T int) (TimestepSampler, error) {
	v, err := Build(KindTimesteps, name, nil)
	if err != nil {
		return nil, err
	}
	s := v.(TimestepSampler)
	s.Init(T)
	return s, nil
}

// ParamConv is the GoMLX context parameter through which the engine tells networks which
// convolution to build: ConvNative (one ConvGeneral per layer, with the gradient of
// internal/conv, which every backend can run) or ConvIm2col (Gather + DotGeneral, for the
// pure-Go backend with its fast paths off). It is set from the backend before the network
// is applied.
const ParamConv = "ddpm_conv"

// The values of ParamConv.
const (
	ConvIm2col = "im2col"
	ConvNative = "native"
)

// LayoutOnlyData is implemented by a dataset that has the layout of examples (their width,
// their image shape) but no examples: what an imported model is sampled on when no data were
// named. The engine refuses to train on it and refuses the metrics, which all need data.
type LayoutOnlyData interface {
	// LayoutOnly says how to name real data instead (for the refusal's message).
	LayoutOnly() (hint string)
}

// RandomNetwork is implemented by a network that draws random numbers while it trains
// (dropout). When NeedsRandom reports true, the engine gives each training step's graph a
// random state of its own, derived from the trial's seed and the step (so a rerun or a
// resumed run draws the same numbers), and hands it to the network as a Random through the
// graph parameter GraphParamRandom. Graphs that sample or evaluate carry none: the network
// must then draw nothing (dropout off).
type RandomNetwork interface {
	NeedsRandom() bool
}

// GraphParamRandom is the GoMLX graph parameter, set at the context's root scope of a
// training step's graph, whose value is that step's *Random. Read it with RandomOf.
const GraphParamRandom = "ddpm_random"

// Random is a stream of random numbers inside one graph: each draw consumes the state and
// leaves the next one for the following draw, so the draws of a graph depend only on the
// state it was given and on the order in which the network builds them.
type Random struct {
	state *Node
}

// NewRandom starts a stream at state, a graph.RNGStateShape node.
func NewRandom(state *Node) *Random { return &Random{state: state} }

// Uniform draws values in [0, 1) of the given shape.
func (r *Random) Uniform(shape shapes.Shape) *Node {
	var values *Node
	r.state, values = graph.RandomUniform(r.state, shape)
	return values
}

// RandomOf returns the random stream of g, or nil when g has none (a graph that samples or
// evaluates).
func RandomOf(ctx *context.Context, g *graph.Graph) *Random {
	r, _ := ctx.GetGraphParam(g, GraphParamRandom)
	if rr, ok := r.(*Random); ok {
		return rr
	}
	return nil
}

// ImageShapeChecker is implemented by an ImageNetwork that cannot take every image shape:
// the engine asks it after SetImageShape, and its error stops the run before anything is
// written.
type ImageShapeChecker interface {
	CheckImageShape(h, w, c int) error
}
