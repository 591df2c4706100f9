package plugins

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
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
	// parameters (only for kinds with a table of their own), and Settings the struct they
	// decode into (see CheckSettings): code reads them as fields, never by key.
	Common   []Param
	Settings reflect.Type
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
	if len(k.Common) > 0 || k.Settings != nil {
		if !k.OwnTable() {
			panic(fmt.Sprintf("plugins: kind %q has no table of its own for shared keys", k.Kind))
		}
		if err := CheckSettings(k.Settings, k.Common); err != nil {
			panic(fmt.Sprintf("plugins: kind %q: shared keys: %v", k.Kind, err))
		}
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
			Doc: "training and held-out data", Common: dataCommon, Settings: reflect.TypeFor[DataSettings]()},
		{Kind: KindSchedule, Table: "schedule", Key: "name", Default: "linear", Contract: reflect.TypeFor[Schedule](),
			Doc: "the noise schedule beta_1..beta_T", Common: scheduleCommon, Settings: reflect.TypeFor[ScheduleSettings]()},
		{Kind: KindPredictor, Table: "predictor", Key: "name", Default: "eps", Contract: reflect.TypeFor[Predictor](),
			Doc: "what the network predicts, and its variance"},
		{Kind: KindLoss, Table: "loss", Key: "name", Default: "simple", Contract: reflect.TypeFor[Loss](),
			Doc: "the training objective", Common: lossCommon, Settings: reflect.TypeFor[LossSettings]()},
		{Kind: KindNetwork, Table: "network", Key: "name", Default: "mlp", Contract: reflect.TypeFor[Network](),
			Doc: "the denoiser network"},
		{Kind: KindSampler, Table: "sample", Key: "name", Default: "ancestral", Contract: reflect.TypeFor[Sampler](),
			Doc: "how samples are drawn after training", Common: sampleCommon, Settings: reflect.TypeFor[SampleSettings]()},
		{Kind: KindMetric, Table: "eval", Key: "metrics", Contract: reflect.TypeFor[Metric](),
			Doc: "what is measured after training"},
		{Kind: KindTimesteps, Table: "loss", Key: "timesteps", Default: "uniform", Contract: reflect.TypeFor[TimestepSampler](),
			Doc: "how training draws timesteps and weights them"},
	} {
		RegisterKind(k)
	}
}

// DataSettings are the keys every dataset takes ([data] besides the plugin's own), declared in
// dataCommon.
type DataSettings struct {
	// Flip mirrors each training image left to right with probability 1/2 (the engine draws
	// it, so every image dataset has it).
	Flip bool `param:"flip"`
}

var dataCommon = []Param{
	{Name: "flip", Type: Bool, Default: false, OmitDefault: true,
		Doc: "flip each training image horizontally with probability 1/2, drawn from the (seed, step) streams (DDPM trained CIFAR-10 so); images only, held-out data are never flipped"},
}

// ScheduleSettings are the keys every schedule takes ([schedule] besides the plugin's own),
// declared in scheduleCommon.
type ScheduleSettings struct {
	T               int  `param:"T"`
	ZeroTerminalSNR bool `param:"zero_terminal_snr"`
}

// Process derives the diffusion process of schedule sched (named name, for messages) under
// the shared keys: its betas at T, rescaled to zero terminal SNR when asked. A run and
// `runner schedule` both come here, so a shared key shows in both.
func (s ScheduleSettings) Process(name string, sched Schedule) (*diffusion.Process, error) {
	betas, err := sched.Betas(s.T)
	if err != nil {
		return nil, err
	}
	if s.ZeroTerminalSNR {
		betas = diffusion.RescaleZeroTerminalSNR(betas)
	}
	p, err := diffusion.NewProcess(betas)
	if err != nil && s.ZeroTerminalSNR {
		// The rescale divides by alpha_bar's fall from the first step to the last: a chain
		// whose alpha_bar does not fall (tiny betas) or is 0 from the start has none.
		return nil, fmt.Errorf("[schedule] zero_terminal_snr: %s at T = %d cannot be rescaled, its alpha_bar does not fall "+
			"between the first step and the last (%v); change the schedule's parameters or T", name, s.T, err)
	}
	if err != nil {
		return nil, err
	}
	p.Rescaled = s.ZeroTerminalSNR
	return p, nil
}

var scheduleCommon = []Param{
	{Name: "T", Type: Int, Default: 1000, Min: Bound(1), Max: Bound(100000), Doc: "number of diffusion steps"},
	{Name: "zero_terminal_snr", Type: Bool, Default: false, Doc: "rescale the betas so that alpha_bar_T = 0 (Lin et al. 2024); needs a v or x0 predictor"},
}

// LossSettings are the keys every loss takes ([loss] besides the plugin's own), declared in
// lossCommon.
type LossSettings struct {
	// Timesteps names the timesteps plugin (KindTimesteps).
	Timesteps  string `param:"timesteps"`
	DecoderCDF string `param:"decoder_cdf"`
	VLBUnits   string `param:"vlb_units"`
}

var lossCommon = []Param{
	{Name: "timesteps", Type: String, Default: "uniform",
		Doc: "the timesteps plugin that draws training timesteps (see runner plugins timesteps)"},
	{Name: "decoder_cdf", Type: String, Default: "exact", Choices: []string{"exact", "tanh"},
		Doc: "normal CDF of the discretized decoder (L_0), in training and in the bound: exact erf, or improved-diffusion's tanh approximation"},
	{Name: "vlb_units", Type: String, Default: "nats", Choices: []string{"nats", "bits"},
		Doc: "units of the VLB term the losses add: nats, or bits as improved-diffusion (lambda then weighs it ln 2 times more)"},
}

// SampleSettings are the keys every sampler takes ([sample] besides the plugin's own),
// declared in sampleCommon.
type SampleSettings struct {
	N            int     `param:"n"`
	ClipDenoised bool    `param:"clip_denoised"`
	Guidance     float64 `param:"guidance"`
	Noise        string  `param:"noise"`
	Batch        int     `param:"batch"`
}

var sampleCommon = []Param{
	{Name: "n", Type: Int, Default: 1000, Min: Bound(1), Max: Bound(1 << 26), Doc: "number of samples drawn after training"},
	{Name: "clip_denoised", Type: Bool, Default: true, Doc: "clip x0-hat to the data range [-1, 1] at each step (images only)"},
	{Name: "guidance", Type: Float, Default: 1.0, Min: Bound(0), Doc: "classifier-free guidance scale s of a class-conditional model: out = uncond + s (cond - uncond); 0 unconditional, 1 conditional, above 1 guided (2 NFE per evaluation)"},
	{Name: "batch", Type: Int, Default: 0, Min: Bound(0), Max: Bound(1 << 26), OmitDefault: true, Doc: "samples drawn at a time (improved-diffusion's --batch_size): 0 draws all n at once; a smaller batch bounds sampling memory, and each batch then has random streams of its own, so samples depend on (seed, batch)"},
	{Name: "noise", Type: String, Default: "", OmitDefault: true, Doc: "a .npy file of float32 [n, C, H, W] (PyTorch's layout; [n, dim] for data that are not images) that the chain starts from instead of drawing x_T from the seed, relative to the spec file's folder; its sha256 is recorded"},
}
