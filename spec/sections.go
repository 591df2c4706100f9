package spec

import "github.com/ddpm-runner/ddpm-runner/plugins"

// TrainParams are the keys of [train].
var TrainParams = []plugins.Param{
	{Name: "steps", Type: plugins.Int, Default: 3000, Min: plugins.Bound(1), Max: plugins.Bound(1 << 40), Doc: "optimizer steps"},
	{Name: "batch", Type: plugins.Int, Default: 128, Min: plugins.Bound(1), Max: plugins.Bound(1 << 24), Doc: "examples per step"},
	{Name: "lr", Type: plugins.Float, Default: 2e-4, Min: plugins.Bound(0), ExclusiveMin: true, Doc: "Adam learning rate"},
	{Name: "warmup", Type: plugins.Int, Default: 0, Min: plugins.Bound(0), Doc: "steps of linear learning-rate warmup"},
	{Name: "grad_clip", Type: plugins.Float, Default: 1.0, Min: plugins.Bound(0), Doc: "clip the global gradient norm to this (0: no clipping)"},
	{Name: "weight_decay", Type: plugins.Float, Default: 0.0, Min: plugins.Bound(0), Doc: "decoupled weight decay (AdamW style)"},
	{Name: "ema", Type: plugins.Float, OrList: true, Default: 0.999, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMax: true, Doc: "decay of the weights' exponential moving average used for sampling and evaluation (0: none); a list keeps one EMA per rate and evaluates each (summaries KEY@emaRATE for all but the first)"},
	{Name: "offset_noise", Type: plugins.Float, Default: 0.0, Min: plugins.Bound(0), Doc: "offset noise: add this times a per-example, per-channel N(0, 1) constant to the training noise (0.1 is usual; 0: none)"},
	{Name: "class_cond", Type: plugins.Bool, Default: false, Doc: "condition the network on the data's class labels (MNIST digits), for classifier-free guidance at sampling"},
	{Name: "label_dropout", Type: plugins.Float, Default: 0.1, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMax: true, Doc: "with class_cond: the share of training examples whose label is replaced by 'no class'"},
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

// pluginTables are the kinds whose plugin has a table of its own, in spec order.
func pluginTables() []plugins.KindInfo {
	var out []plugins.KindInfo
	for _, k := range plugins.Kinds() {
		if k.OwnTable() {
			out = append(out, k)
		}
	}
	return out
}

func tableNames() []string {
	names := []string{}
	for _, k := range pluginTables() {
		names = append(names, k.Table)
	}
	return append(names, "train", "eval", "sweep")
}

// SectionOrder is the order of the tables in canonical forms and listings.
var SectionOrder = []string{"data", "schedule", "predictor", "loss", "network", "train", "sample", "eval"}
