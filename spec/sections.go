package spec

import "github.com/ddpm-runner/ddpm-runner/plugins"

// pluginSection ties a spec table to the plugin kind it selects, with the default plugin and
// the keys that every plugin of that kind shares.
type pluginSection struct {
	Table       string
	Kind        plugins.Kind
	DefaultName string
	Common      []plugins.Param
}

var pluginSections = []pluginSection{
	{Table: "data", Kind: plugins.KindDataset, DefaultName: "swissroll"},
	{Table: "schedule", Kind: plugins.KindSchedule, DefaultName: "linear", Common: []plugins.Param{
		{Name: "T", Type: plugins.Int, Default: 1000, Min: plugins.Bound(1), Max: plugins.Bound(100000), Doc: "number of diffusion steps"},
	}},
	{Table: "predictor", Kind: plugins.KindPredictor, DefaultName: "eps"},
	{Table: "loss", Kind: plugins.KindLoss, DefaultName: "simple", Common: []plugins.Param{
		{Name: "timesteps", Type: plugins.String, Default: "uniform", Choices: []string{"uniform", "importance"},
			Doc: "how training timesteps are drawn: uniform, or importance (Improved DDPM's loss-second-moment resampler)"},
	}},
	{Table: "network", Kind: plugins.KindNetwork, DefaultName: "mlp"},
	{Table: "sample", Kind: plugins.KindSampler, DefaultName: "ancestral", Common: []plugins.Param{
		{Name: "n", Type: plugins.Int, Default: 1000, Min: plugins.Bound(1), Max: plugins.Bound(1 << 26), Doc: "number of samples drawn after training"},
		{Name: "clip_denoised", Type: plugins.Bool, Default: true, Doc: "clip x0-hat to the data range [-1, 1] at each step (images only)"},
	}},
}

// TrainParams are the keys of [train].
var TrainParams = []plugins.Param{
	{Name: "steps", Type: plugins.Int, Default: 3000, Min: plugins.Bound(1), Max: plugins.Bound(1 << 40), Doc: "optimizer steps"},
	{Name: "batch", Type: plugins.Int, Default: 128, Min: plugins.Bound(1), Max: plugins.Bound(1 << 24), Doc: "examples per step"},
	{Name: "lr", Type: plugins.Float, Default: 2e-4, Min: plugins.Bound(0), ExclusiveMin: true, Doc: "Adam learning rate"},
	{Name: "warmup", Type: plugins.Int, Default: 0, Min: plugins.Bound(0), Doc: "steps of linear learning-rate warmup"},
	{Name: "grad_clip", Type: plugins.Float, Default: 1.0, Min: plugins.Bound(0), Doc: "clip the global gradient norm to this (0: no clipping)"},
	{Name: "weight_decay", Type: plugins.Float, Default: 0.0, Min: plugins.Bound(0), Doc: "decoupled weight decay (AdamW style)"},
	{Name: "ema", Type: plugins.Float, Default: 0.999, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMax: true, Doc: "decay of the weights' exponential moving average used for sampling and evaluation (0: none)"},
	{Name: "log_every", Type: plugins.Int, Default: 10, Min: plugins.Bound(1), Doc: "record the loss every this many steps"},
	{Name: "checkpoint_every", Type: plugins.Int, Default: 500, Min: plugins.Bound(0), Doc: "write a checkpoint every this many steps (0: only at the end and on interrupt)"},
}

// EvalParams are the keys of [eval]. The metric names are checked against the registry.
var EvalParams = []plugins.Param{
	{Name: "metrics", Type: plugins.StringList, Default: []string{}, Doc: "metric plugins evaluated after training"},
	{Name: "n", Type: plugins.Int, Default: 1000, Min: plugins.Bound(1), Max: plugins.Bound(1 << 26), Doc: "held-out examples used by the metrics"},
}

// MaxTrials is the most trials one spec may expand to (seeds times sweep points): more is
// almost surely a mistake, and every trial is built before the first runs.
const MaxTrials = 10000

// topLevelKeys are the keys allowed outside any table.
var topLevelKeys = []string{"name", "description", "seeds", "backend"}

// Backends lists the backend names a spec may ask for.
var Backends = []string{"go", "xla", "xla:cpu", "xla:cuda"}

func tableNames() []string {
	names := []string{}
	for _, s := range pluginSections {
		names = append(names, s.Table)
	}
	return append(names, "train", "eval", "sweep")
}

// SectionOrder is the order of the tables in canonical forms and listings.
var SectionOrder = []string{"data", "schedule", "predictor", "loss", "network", "train", "sample", "eval"}

// CommonParams returns the keys that every plugin of a kind takes in its table.
func CommonParams(k plugins.Kind) []plugins.Param {
	for _, s := range pluginSections {
		if s.Kind == k {
			return s.Common
		}
	}
	return nil
}
