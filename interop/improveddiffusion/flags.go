// Package improveddiffusion reads the command-line flags of openai/improved-diffusion's
// scripts (image_train.py, image_sample.py: the MODEL_FLAGS and DIFFUSION_FLAGS its README
// gives for each released checkpoint), with the defaults of its script_util, and says what
// they mean as the runner's spec tables: the U-Net, the schedule, the predictor, the loss and
// the sampler that reproduce that model and its diffusion.
package improveddiffusion

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Flags are improved-diffusion's model and diffusion flags (script_util's
// model_and_diffusion_defaults) and the two sampling flags of image_sample.py that change how
// the chain is run.
type Flags struct {
	ImageSize            int
	NumChannels          int
	NumResBlocks         int
	NumHeads             int
	NumHeadsUpsample     int
	AttentionResolutions string
	Dropout              float64
	LearnSigma           bool
	SigmaSmall           bool
	ClassCond            bool
	DiffusionSteps       int
	NoiseSchedule        string
	TimestepRespacing    string
	UseKL                bool
	PredictXstart        bool
	RescaleTimesteps     bool
	RescaleLearnedSigmas bool
	UseCheckpoint        bool
	UseScaleShiftNorm    bool
	// UseDDIM and ClipDenoised are image_sample.py's.
	UseDDIM      bool
	ClipDenoised bool
}

// Defaults are script_util's model_and_diffusion_defaults and image_sample.py's defaults of
// use_ddim and clip_denoised.
func Defaults() Flags {
	return Flags{
		ImageSize: 64, NumChannels: 128, NumResBlocks: 2, NumHeads: 4, NumHeadsUpsample: -1,
		AttentionResolutions: "16,8", Dropout: 0, DiffusionSteps: 1000, NoiseSchedule: "linear",
		RescaleTimesteps: true, RescaleLearnedSigmas: true, UseScaleShiftNorm: true, ClipDenoised: true,
	}
}

// flagDef is one flag: its name as improved-diffusion spells it, its kind, and where it goes.
type flagDef struct {
	name string
	kind string // "int", "float", "bool", "str"
	set  func(f *Flags, v any)
}

var flagDefs = []flagDef{
	{"image_size", "int", func(f *Flags, v any) { f.ImageSize = v.(int) }},
	{"num_channels", "int", func(f *Flags, v any) { f.NumChannels = v.(int) }},
	{"num_res_blocks", "int", func(f *Flags, v any) { f.NumResBlocks = v.(int) }},
	{"num_heads", "int", func(f *Flags, v any) { f.NumHeads = v.(int) }},
	{"num_heads_upsample", "int", func(f *Flags, v any) { f.NumHeadsUpsample = v.(int) }},
	{"attention_resolutions", "str", func(f *Flags, v any) { f.AttentionResolutions = v.(string) }},
	{"dropout", "float", func(f *Flags, v any) { f.Dropout = v.(float64) }},
	{"learn_sigma", "bool", func(f *Flags, v any) { f.LearnSigma = v.(bool) }},
	{"sigma_small", "bool", func(f *Flags, v any) { f.SigmaSmall = v.(bool) }},
	{"class_cond", "bool", func(f *Flags, v any) { f.ClassCond = v.(bool) }},
	{"diffusion_steps", "int", func(f *Flags, v any) { f.DiffusionSteps = v.(int) }},
	{"noise_schedule", "str", func(f *Flags, v any) { f.NoiseSchedule = v.(string) }},
	{"timestep_respacing", "str", func(f *Flags, v any) { f.TimestepRespacing = v.(string) }},
	{"use_kl", "bool", func(f *Flags, v any) { f.UseKL = v.(bool) }},
	{"predict_xstart", "bool", func(f *Flags, v any) { f.PredictXstart = v.(bool) }},
	{"rescale_timesteps", "bool", func(f *Flags, v any) { f.RescaleTimesteps = v.(bool) }},
	{"rescale_learned_sigmas", "bool", func(f *Flags, v any) { f.RescaleLearnedSigmas = v.(bool) }},
	{"use_checkpoint", "bool", func(f *Flags, v any) { f.UseCheckpoint = v.(bool) }},
	{"use_scale_shift_norm", "bool", func(f *Flags, v any) { f.UseScaleShiftNorm = v.(bool) }},
	{"use_ddim", "bool", func(f *Flags, v any) { f.UseDDIM = v.(bool) }},
	{"clip_denoised", "bool", func(f *Flags, v any) { f.ClipDenoised = v.(bool) }},
}

// FlagNames lists the flags Parse takes, in script_util's order.
func FlagNames() []string {
	out := make([]string, len(flagDefs))
	for i, d := range flagDefs {
		out[i] = d.name
	}
	return out
}

// FlagError is a flag Parse refuses: which option string held it (Source), the flag and why.
type FlagError struct {
	Source string // "--model-flags" or "--diffusion-flags"
	Flag   string
	Msg    string
}

func (e *FlagError) Error() string {
	if e.Flag == "" {
		return fmt.Sprintf("%s: %s", e.Source, e.Msg)
	}
	return fmt.Sprintf("%s: --%s: %s", e.Source, e.Flag, e.Msg)
}

// Source is one string of flags and the option it came from (for messages).
type Source struct {
	Option string
	Text   string
}

// Parse reads the flag strings, each like "--image_size 32 --learn_sigma True" (or
// "--image_size=32"), over Defaults, as improved-diffusion's argparse does with its
// add_dict_to_argparser: ints, floats, strings, and booleans by str2bool (yes/true/t/y/1,
// no/false/f/n/0, any case). The two strings are one command line to improved-diffusion, so
// a flag may sit in either, but not in both. The result is checked (Check).
func Parse(sources ...Source) (Flags, error) {
	f := Defaults()
	seen := map[string]string{}
	for _, src := range sources {
		words := strings.Fields(src.Text)
		for i := 0; i < len(words); i++ {
			w := words[i]
			if !strings.HasPrefix(w, "--") || len(w) == 2 {
				return f, &FlagError{Source: src.Option, Msg: fmt.Sprintf("%q is not a flag (want --name value, as improved-diffusion's scripts take)", w)}
			}
			name, value, hasValue := strings.Cut(w[2:], "=")
			d := slices.IndexFunc(flagDefs, func(d flagDef) bool { return d.name == name })
			if d < 0 {
				return f, &FlagError{Source: src.Option, Flag: name,
					Msg: "not a flag of improved-diffusion's model or diffusion (valid: " + strings.Join(FlagNames(), ", ") + ")"}
			}
			if !hasValue {
				if i+1 >= len(words) {
					return f, &FlagError{Source: src.Option, Flag: name, Msg: "needs a value"}
				}
				i++
				value = words[i]
			}
			if prev, ok := seen[name]; ok {
				return f, &FlagError{Source: src.Option, Flag: name, Msg: "given twice (also in " + prev + ")"}
			}
			seen[name] = src.Option
			v, err := parseValue(flagDefs[d].kind, value)
			if err != nil {
				return f, &FlagError{Source: src.Option, Flag: name, Msg: err.Error()}
			}
			flagDefs[d].set(&f, v)
		}
	}
	if err := f.Check(); err != nil {
		if fe, ok := err.(*FlagError); ok {
			if opt, given := seen[fe.Flag]; given {
				fe.Source = opt
			} else {
				fe.Source, fe.Msg = sources[0].Option, fe.Msg+" (improved-diffusion's default; give the flag)"
			}
		}
		return f, err
	}
	return f, nil
}

func parseValue(kind, s string) (any, error) {
	switch kind {
	case "int":
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", s)
		}
		return n, nil
	case "float":
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%q is not a finite number", s)
		}
		return x, nil
	case "bool":
		switch strings.ToLower(s) {
		case "yes", "true", "t", "y", "1":
			return true, nil
		case "no", "false", "f", "n", "0":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a boolean (True/False, yes/no, 1/0)", s)
	}
	return s, nil
}

// ChannelMult is create_model's channel multipliers for an image size.
func ChannelMult(imageSize int) ([]int, bool) {
	switch imageSize {
	case 32:
		return []int{1, 2, 2, 2}, true
	case 64:
		return []int{1, 2, 3, 4}, true
	case 256:
		return []int{1, 1, 2, 2, 4, 4}, true
	}
	return nil, false
}

// Attention is the attention resolutions in pixels, as attention_resolutions lists them
// (improved-diffusion turns each into the downsampling factor image_size // res).
func (f Flags) Attention() ([]int, error) {
	var out []int
	if strings.TrimSpace(f.AttentionResolutions) == "" {
		return out, nil
	}
	for _, part := range strings.Split(f.AttentionResolutions, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("%q is not a positive resolution in pixels", part)
		}
		out = append(out, r)
	}
	return out, nil
}

// Respacing is how timestep_respacing runs the chain: all T steps (Steps 0), "ddimN"
// (DDIM's fixed stride, DDIM true) or "N" (N evenly spaced steps).
type Respacing struct {
	Steps int
	DDIM  bool
}

// Respacing parses timestep_respacing; several comma-separated sections are refused.
func (f Flags) Respacing() (Respacing, error) {
	s := strings.TrimSpace(f.TimestepRespacing)
	if s == "" {
		return Respacing{}, nil
	}
	ddim := strings.HasPrefix(s, "ddim")
	n, err := strconv.Atoi(strings.TrimPrefix(s, "ddim"))
	if err != nil || n < 1 {
		return Respacing{}, fmt.Errorf("%q: want \"\" (all steps), N or ddimN with N >= 1; sections (\"10,15,20\") are not supported", s)
	}
	if n > f.DiffusionSteps {
		return Respacing{}, fmt.Errorf("%q asks for %d steps of diffusion_steps %d", s, n, f.DiffusionSteps)
	}
	if ddim && !hasDDIMStride(f.DiffusionSteps, n) {
		return Respacing{}, fmt.Errorf("%q: no integer stride gives exactly %d steps of %d (improved-diffusion refuses it too)", s, n, f.DiffusionSteps)
	}
	return Respacing{Steps: n, DDIM: ddim}, nil
}

// hasDDIMStride is space_timesteps' search for "ddimN": some stride i in 1..T-1 with
// len(range(0, T, i)) == N.
func hasDDIMStride(T, n int) bool {
	for i := 1; i < T; i++ {
		if (T+i-1)/i == n {
			return true
		}
	}
	return false
}

// Check refuses what improved-diffusion itself refuses (create_model's image sizes) and what
// the runner cannot express, naming the flag and what is valid.
func (f Flags) Check() error {
	bad := func(flag, format string, args ...any) error {
		return &FlagError{Source: "flags", Flag: flag, Msg: fmt.Sprintf(format, args...)}
	}
	if _, ok := ChannelMult(f.ImageSize); !ok {
		return bad("image_size", "%d is not a size improved-diffusion's create_model builds (valid: 32, 64, 256)", f.ImageSize)
	}
	if f.NumChannels < 32 || f.NumChannels%32 != 0 {
		return bad("num_channels", "%d: GroupNorm32 needs a positive multiple of 32", f.NumChannels)
	}
	if f.NumResBlocks < 1 {
		return bad("num_res_blocks", "%d: want at least 1", f.NumResBlocks)
	}
	if f.NumHeads < 1 {
		return bad("num_heads", "%d: want at least 1", f.NumHeads)
	}
	if f.NumHeadsUpsample != -1 && f.NumHeadsUpsample != f.NumHeads {
		return bad("num_heads_upsample", "%d: the runner's U-Net has one head count (valid: -1, or num_heads = %d)", f.NumHeadsUpsample, f.NumHeads)
	}
	att, err := f.Attention()
	if err != nil {
		return bad("attention_resolutions", "%v", err)
	}
	mult, _ := ChannelMult(f.ImageSize)
	var present []int
	for l := range mult {
		present = append(present, f.ImageSize>>l)
	}
	for _, r := range att {
		if !slices.Contains(present, r) {
			return bad("attention_resolutions", "%d is not a resolution of the %dx%d U-Net (valid: %v)", r, f.ImageSize, f.ImageSize, present)
		}
		ch := f.NumChannels * mult[slices.Index(present, r)]
		if ch%f.NumHeads != 0 {
			return bad("num_heads", "%d does not divide the %d channels at resolution %d", f.NumHeads, ch, r)
		}
	}
	if f.Dropout < 0 || f.Dropout >= 1 {
		return bad("dropout", "%g: want 0 <= dropout < 1", f.Dropout)
	}
	if f.ClassCond {
		return bad("class_cond", "class-conditional improved-diffusion models (1000 ImageNet classes) are not imported; valid: False")
	}
	if f.DiffusionSteps < 2 {
		return bad("diffusion_steps", "%d: want at least 2", f.DiffusionSteps)
	}
	if f.NoiseSchedule != "linear" && f.NoiseSchedule != "cosine" {
		return bad("noise_schedule", "%q (valid: linear, cosine)", f.NoiseSchedule)
	}
	if _, err := f.Respacing(); err != nil {
		return bad("timestep_respacing", "%v", err)
	}
	return nil
}

// OutChannels is the model's output channels: 3 (eps or x_0), 6 with learn_sigma (the first
// three the mean part, the last three the variance interpolation of learned_range).
func (f Flags) OutChannels() int {
	if f.LearnSigma {
		return 6
	}
	return 3
}

// TimeScale is what the network multiplies the timestep by: 1000/T with rescale_timesteps
// (_WrappedModel feeds t * 1000 / original_num_steps, the original timestep of a respaced
// step), else 1.
func (f Flags) TimeScale() float64 {
	if f.RescaleTimesteps {
		return 1000 / float64(f.DiffusionSteps)
	}
	return 1
}

// Tables are the runner's spec tables for the model and its diffusion: [schedule],
// [predictor], [loss], [network] and [sample], as TOML-shaped maps (what spec.Resolve reads).
// network holds the U-Net's options as the unet plugin names them.
func (f Flags) Tables() map[string]map[string]any {
	mult, _ := ChannelMult(f.ImageSize)
	att, _ := f.Attention()
	attention := make([]any, len(att))
	for i, r := range att {
		attention[i] = int64(r)
	}
	mults := make([]any, len(mult))
	for i, m := range mult {
		mults[i] = int64(m)
	}
	// get_named_beta_schedule: "linear" is 1e-4..0.02 scaled by 1000/T, which the runner's
	// linear schedule does itself; "cosine" is its squared cosine with s = 0.008 and betas
	// clipped at 0.999, the runner's cosine defaults.
	schedule := map[string]any{"name": f.NoiseSchedule, "T": int64(f.DiffusionSteps)}
	predictor := map[string]any{"name": "eps"}
	if f.PredictXstart {
		predictor["name"] = "x0"
	}
	switch {
	case f.LearnSigma:
		predictor["variance"] = "learned_range"
	case f.SigmaSmall:
		predictor["variance"] = "fixed_small"
	default:
		predictor["variance"] = "fixed_large"
	}
	// create_gaussian_diffusion's loss_type: RESCALED_KL with use_kl, else RESCALED_MSE
	// (with a learned variance, MSE plus the VLB term: L_hybrid) or MSE.
	loss := map[string]any{"name": "simple"}
	switch {
	case f.UseKL:
		loss["name"] = "vlb"
	case f.LearnSigma:
		loss["name"] = "hybrid"
	}
	network := map[string]any{
		"name":          "unet",
		"channels":      int64(f.NumChannels),
		"mults":         mults,
		"norm":          "group",
		"res_blocks":    int64(f.NumResBlocks),
		"attention":     attention,
		"heads":         int64(f.NumHeads),
		"dropout":       f.Dropout,
		"groups":        int64(32),
		"scale_shift":   f.UseScaleShiftNorm,
		"resample_conv": true,
		"time_scale":    f.TimeScale(),
	}
	r, _ := f.Respacing()
	sample := map[string]any{"clip_denoised": f.ClipDenoised}
	switch {
	case f.UseDDIM:
		// image_sample.py's ddim_sample_loop, eta 0, on the respaced chain: "ddimN" has
		// DDIM's fixed stride (the ddim spacing), a plain N improved-diffusion's even spacing.
		sample["name"] = "ddim"
		sample["eta"] = 0.0
		sample["steps"] = int64(r.Steps)
		sample["spacing"] = spacingOf(r)
	case r.Steps == 0:
		sample["name"] = "ancestral"
	default:
		sample["name"] = "respaced"
		sample["steps"] = int64(r.Steps)
		sample["spacing"] = spacingOf(r)
	}
	return map[string]map[string]any{"schedule": schedule, "predictor": predictor, "loss": loss, "network": network, "sample": sample}
}

func spacingOf(r Respacing) string {
	if r.DDIM {
		return SpacingDDIM
	}
	return "linspace"
}

// SpacingDDIM is the samplers' spacing that is improved-diffusion's "ddimN".
const SpacingDDIM = "ddim"
