package spec

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Settings are a trial's settings that the engine reads, decoded once from its resolved
// tables: [train], [eval], and the keys every plugin of a kind shares (a plugin's own
// parameters stay in its table's Values, for its constructor).
type Settings struct {
	Train    TrainSettings
	Eval     EvalSettings
	Data     plugins.DataSettings
	Schedule plugins.ScheduleSettings
	Loss     plugins.LossSettings
	Sample   plugins.SampleSettings
}

// TrainSettings are the keys of [train], declared in TrainParams.
type TrainSettings struct {
	Steps       int     `param:"steps"`
	Batch       int     `param:"batch"`
	LR          float64 `param:"lr"`
	Warmup      int     `param:"warmup"`
	GradClip    float64 `param:"grad_clip"`
	WeightDecay float64 `param:"weight_decay"`
	// EMA holds every rate of train.ema (one number is a list of one); the first is the
	// EMA that sampling and evaluation use first.
	EMA             []float64 `param:"ema"`
	OffsetNoise     float64   `param:"offset_noise"`
	ClassCond       bool      `param:"class_cond"`
	LabelDropout    float64   `param:"label_dropout"`
	LogEvery        int       `param:"log_every"`
	CheckpointEvery int       `param:"checkpoint_every"`
	// Keep is "last", or "best:KEY" to keep also the checkpoint whose evaluation during
	// training (eval.every) had the best KEY (see KeepBest).
	Keep string `param:"keep"`
}

// KeepBest is the value key that train.keep = "best:KEY" names, or "" for "last".
func (t TrainSettings) KeepBest() string {
	key, _ := strings.CutPrefix(t.Keep, KeepBestPrefix)
	if key == t.Keep {
		return ""
	}
	return key
}

// KeepBestPrefix starts a train.keep that keeps the best checkpoint: "best:fid".
const KeepBestPrefix = "best:"

// EvalSettings are the keys of [eval], declared in EvalParams.
type EvalSettings struct {
	// Metrics names metric plugins (KindMetric).
	Metrics []string `param:"metrics"`
	N       int      `param:"n"`
	// Every, when positive, evaluates the metrics every this many training steps on NDuring
	// samples and held-out examples, the samples drawn by SamplerDuring (the run's own
	// sampler when empty) with SamplerDuringSteps steps (its default when 0).
	Every              int    `param:"every"`
	NDuring            int    `param:"n_during"`
	SamplerDuring      string `param:"sampler_during"`
	SamplerDuringSteps int    `param:"sampler_during_steps"`
	// Batch caps how many examples one run of the network in the bound takes (0: all of a
	// batch of the bound, up to diffusion.BoundBatch); it bounds memory, not the bound's noise.
	Batch int `param:"batch"`
	// Featurizer chooses the features of fid, is, kid and precision_recall (see EvalParams);
	// Inception names the Inception weights file, Reference a pytorch-fid statistics file and
	// ReferenceSplit the data split the Inception metrics compare with.
	Featurizer     string `param:"featurizer"`
	Inception      string `param:"inception"`
	Reference      string `param:"reference"`
	ReferenceSplit string `param:"reference_split"`
}

// The settings structs and their declarations are written side by side; a field without a
// declaration, or one of the wrong type, stops every program at start-up.
func init() {
	for _, c := range []struct {
		typ   reflect.Type
		decls []plugins.Param
	}{{reflect.TypeFor[TrainSettings](), TrainParams}, {reflect.TypeFor[EvalSettings](), EvalParams}} {
		if err := plugins.CheckSettings(c.typ, c.decls); err != nil {
			panic("spec: " + err.Error())
		}
	}
}

// decodeSettings fills t.Settings from t's resolved tables.
func decodeSettings(t *Trial) error {
	s := &t.Settings
	for _, d := range []struct {
		table string
		into  any
	}{{"train", &s.Train}, {"eval", &s.Eval}, {"data", &s.Data}, {"schedule", &s.Schedule}, {"loss", &s.Loss}, {"sample", &s.Sample}} {
		if err := plugins.Decode(t.Sections[d.table].Params, d.into); err != nil {
			return fmt.Errorf("spec: [%s]: %w", d.table, err)
		}
	}
	return nil
}

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
	{Name: "keep", Type: plugins.String, Default: "last", OmitDefault: true,
		Doc: `which checkpoints to keep: "last" (the last two), or "best:KEY" to keep as well the one whose evaluation during training (eval.every) had the best KEY, a value an eval.metrics plugin reports ("best:fid", "best:nll_bits_per_dim"); its step and value are the summaries best_step and best_value, the files in the run's checkpoint-best/`},
}

// EvalParams are the keys of [eval]. The metric names are checked against the registry.
var EvalParams = []plugins.Param{
	{Name: "metrics", Type: plugins.StringList, Default: []string{}, Doc: "metric plugins evaluated after training"},
	{Name: "n", Type: plugins.Int, Default: 1000, Min: plugins.Bound(1), Max: plugins.Bound(1 << 26), Doc: "held-out examples used by the metrics"},
	{Name: "batch", Type: plugins.Int, Default: 0, Min: plugins.Bound(0), Max: plugins.Bound(1 << 26), OmitDefault: true,
		Doc: "examples the network takes at a time in the bound (0: up to 1000); it bounds the bound's memory and changes none of its noise"},
	{Name: "every", Type: plugins.Int, Default: 0, Min: plugins.Bound(0), OmitDefault: true,
		Doc: "evaluate the metrics on the EMA weights every this many training steps (0: only after training), recorded as histories by step"},
	{Name: "n_during", Type: plugins.Int, Default: 100, Min: plugins.Bound(1), Max: plugins.Bound(1 << 26), OmitDefault: true,
		Doc: "samples and held-out examples of each evaluation during training (a cheap trend: the final evaluation uses sample.n and eval.n)"},
	{Name: "sampler_during", Type: plugins.String, Default: "", OmitDefault: true,
		Doc: "sampler plugin of the evaluations during training, with its default parameters (empty: the [sample] sampler and its parameters)"},
	{Name: "sampler_during_steps", Type: plugins.Int, Default: 0, Min: plugins.Bound(0), OmitDefault: true,
		Doc: "steps of the sampler during training, for a sampler that takes steps (0: its own)"},
	{Name: "featurizer", Type: plugins.String, Default: "auto", OmitDefault: true, Choices: []string{"auto", "classifier", "inception"},
		Doc: "features of fid, is, kid and precision_recall: the shipped classifier (MNIST-shaped data), or the FID Inception of pytorch-fid as the inception_* metrics; auto: the classifier for one-channel images whose side divides 28, the Inception for other images"},
	{Name: "inception", Type: plugins.String, Default: "", OmitDefault: true,
		Doc: "the FID Inception weights (pytorch-fid's pt_inception-2015-12-05-6726825d.pth), relative to the spec file's folder (empty: $DDPM_INCEPTION_WEIGHTS, else torch hub's cache); never downloaded; its sha256 is recorded with every value"},
	{Name: "reference", Type: plugins.String, Default: "", OmitDefault: true,
		Doc: "a pytorch-fid statistics .npz (mu, sigma; mu_s, sigma_s for the spatial FID) that the Inception FIDs compare the samples with instead of the data's, relative to the spec file's folder (published CIFAR-10 statistics, for example); kid and precision/recall still use the data"},
	{Name: "reference_split", Type: plugins.String, Default: "train", OmitDefault: true, Choices: []string{"train", "test"},
		Doc: "the data split the Inception metrics compare the samples with (eval.n of its examples; DDPM used the training set's 50,000), its statistics computed once and kept in the database's artifact folder; the data floor compares the other split with it"},
}

// MaxTrials is the most trials one spec may expand to (seeds times sweep points): more is
// almost surely a mistake, and every trial is built before the first runs.
const MaxTrials = 10000

// topLevelKeys are the keys allowed outside any table.
var topLevelKeys = []string{"name", "description", "seeds", "backend"}

// Backends lists the backend names a spec may ask for.
var Backends = []string{"go", "xla", "xla:cpu", "xla:cuda"}

// specTable is a table of the spec itself rather than of a plugin kind: its keys, and the
// table it follows in the spec's order ("" for the end).
type specTable struct {
	name, after string
	params      []plugins.Param
}

// specTables are the spec's own tables: [train], written after [network], and [eval], last.
var specTables = []specTable{{"train", "network", TrainParams}, {"eval", "", EvalParams}}

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

// SectionOrder is the order of the tables in canonical forms and listings: the kinds' own
// tables in the order they were declared, with the spec's own tables in their places.
func SectionOrder() []string {
	var out []string
	place := func(after string) {
		for _, st := range specTables {
			if st.after == after {
				out = append(out, st.name)
			}
		}
	}
	for _, k := range pluginTables() {
		out = append(out, k.Table)
		place(k.Table)
	}
	place("")
	return out
}

// tableNames are the tables a spec may have, [sweep] last.
func tableNames() []string { return append(SectionOrder(), "sweep") }
