package plugins

import (
	"fmt"
	"reflect"
	"strings"
)

// Kind names a family of plugins (schedules, losses, ...). What the registry knows about a
// kind (its spec table, its contract) is in its KindInfo.
type Kind string

// The plugin kinds that ddpm-runner knows.
const (
	KindSchedule  Kind = "schedule"
	KindPredictor Kind = "predictor"
	KindLoss      Kind = "loss"
	KindDataset   Kind = "dataset"
	KindNetwork   Kind = "network"
	KindSampler   Kind = "sampler"
	KindMetric    Kind = "metric"
	KindTimesteps Kind = "timesteps"
)

// KindInfo is what the registry knows about a plugin kind: where a spec selects its plugins
// and the Go interface (the contract) their constructors must return.
type KindInfo struct {
	Kind Kind
	Doc  string
	// Table is the spec table that selects the plugin, and Key the key in it that names
	// it: "name" for a table of its own ([sample] name = "ddim"), otherwise a key of
	// another kind's table ([eval] metrics = [...], [loss] timesteps = "...").
	Table, Key string
	// Default is the plugin used when a spec names none.
	Default string
	// Common are the keys that every plugin of the kind takes in its table besides its own
	// parameters (only for kinds with a table of their own).
	Common []Param
	// Contract is the interface every constructor's result must implement.
	Contract reflect.Type
}

// OwnTable reports whether the kind's plugin is chosen by the name key of a table of its own,
// whose other keys are that plugin's parameters.
func (k KindInfo) OwnTable() bool { return k.Key == "name" }

// Selector says, as a spec writes it, where the kind's plugins are chosen.
func (k KindInfo) Selector() string { return fmt.Sprintf("[%s] %s", k.Table, k.Key) }

// kinds holds every declared kind in declaration order (the order of a spec's tables).
var kinds []KindInfo

// RegisterKind declares a plugin kind. A new kind touches only this call and its contract;
// the spec decoder, `runner plugins` and Register learn it from here. Like Register, it is
// for init functions and panics on a programming error.
func RegisterKind(k KindInfo) {
	mu.Lock()
	defer mu.Unlock()
	if k.Kind == "" || k.Table == "" || k.Key == "" {
		panic("plugins: RegisterKind needs a kind, a table and a key")
	}
	if k.Contract == nil || k.Contract.Kind() != reflect.Interface {
		panic(fmt.Sprintf("plugins: kind %q needs an interface type as its contract", k.Kind))
	}
	for _, have := range kinds {
		if have.Kind == k.Kind {
			panic(fmt.Sprintf("plugins: kind %q declared twice", k.Kind))
		}
		if k.OwnTable() && have.OwnTable() && have.Table == k.Table {
			panic(fmt.Sprintf("plugins: kinds %q and %q both claim table [%s]", have.Kind, k.Kind, k.Table))
		}
	}
	kinds = append(kinds, k)
}

// Kinds lists every declared kind in the order a spec uses them.
func Kinds() []KindInfo {
	mu.RLock()
	defer mu.RUnlock()
	return append([]KindInfo(nil), kinds...)
}

// Info returns what the registry knows about a kind.
func Info(kind Kind) (KindInfo, bool) {
	mu.RLock()
	defer mu.RUnlock()
	for _, k := range kinds {
		if k.Kind == kind {
			return k, true
		}
	}
	return KindInfo{}, false
}

// ParseKind accepts a kind name, singular or plural ("schedules" works too).
func ParseKind(s string) (Kind, error) {
	s = strings.ToLower(s)
	names := []string{}
	for _, k := range Kinds() {
		if name := string(k.Kind); s == name || s == name+"s" || s+"s" == name {
			return k.Kind, nil
		}
		names = append(names, string(k.Kind))
	}
	return "", fmt.Errorf("unknown plugin kind %q (valid: %s)", s, strings.Join(names, ", "))
}

// The built-in kinds, with the keys their tables share.
func init() {
	for _, k := range []KindInfo{
		{Kind: KindDataset, Table: "data", Key: "name", Default: "swissroll", Contract: reflect.TypeFor[Dataset](),
			Doc: "training and held-out data"},
		{Kind: KindSchedule, Table: "schedule", Key: "name", Default: "linear", Contract: reflect.TypeFor[Schedule](),
			Doc: "the noise schedule beta_1..beta_T", Common: []Param{
				{Name: "T", Type: Int, Default: 1000, Min: Bound(1), Max: Bound(100000), Doc: "number of diffusion steps"},
				{Name: "zero_terminal_snr", Type: Bool, Default: false, Doc: "rescale the betas so that alpha_bar_T = 0 (Lin et al. 2024); needs a v or x0 predictor"},
			}},
		{Kind: KindPredictor, Table: "predictor", Key: "name", Default: "eps", Contract: reflect.TypeFor[Predictor](),
			Doc: "what the network predicts, and its variance"},
		{Kind: KindLoss, Table: "loss", Key: "name", Default: "simple", Contract: reflect.TypeFor[Loss](),
			Doc: "the training objective", Common: []Param{
				{Name: "timesteps", Type: String, Default: "uniform",
					Doc: "the timesteps plugin that draws training timesteps (see runner plugins timesteps)"},
				{Name: "decoder_cdf", Type: String, Default: "exact", Choices: []string{"exact", "tanh"},
					Doc: "normal CDF of the discretized decoder (L_0), in training and in the bound: exact erf, or improved-diffusion's tanh approximation"},
				{Name: "vlb_units", Type: String, Default: "nats", Choices: []string{"nats", "bits"},
					Doc: "units of the VLB term the losses add: nats, or bits as improved-diffusion (lambda then weighs it ln 2 times more)"},
			}},
		{Kind: KindNetwork, Table: "network", Key: "name", Default: "mlp", Contract: reflect.TypeFor[Network](),
			Doc: "the denoiser network"},
		{Kind: KindSampler, Table: "sample", Key: "name", Default: "ancestral", Contract: reflect.TypeFor[Sampler](),
			Doc: "how samples are drawn after training", Common: []Param{
				{Name: "n", Type: Int, Default: 1000, Min: Bound(1), Max: Bound(1 << 26), Doc: "number of samples drawn after training"},
				{Name: "clip_denoised", Type: Bool, Default: true, Doc: "clip x0-hat to the data range [-1, 1] at each step (images only)"},
				{Name: "guidance", Type: Float, Default: 1.0, Min: Bound(0), Doc: "classifier-free guidance scale s of a class-conditional model: out = uncond + s (cond - uncond); 0 unconditional, 1 conditional, above 1 guided (2 NFE per evaluation)"},
			}},
		{Kind: KindMetric, Table: "eval", Key: "metrics", Contract: reflect.TypeFor[Metric](),
			Doc: "what is measured after training"},
		{Kind: KindTimesteps, Table: "loss", Key: "timesteps", Default: "uniform", Contract: reflect.TypeFor[TimestepSampler](),
			Doc: "how training draws timesteps and weights them"},
	} {
		RegisterKind(k)
	}
}
