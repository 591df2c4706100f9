package improveddiffusion

import (
	"reflect"
	"strings"
	"testing"
)

// TestDefaultsAreScriptUtils pins Defaults to model_and_diffusion_defaults (and
// image_sample.py's use_ddim False, clip_denoised True).
func TestDefaultsAreScriptUtils(t *testing.T) {
	want := Flags{ImageSize: 64, NumChannels: 128, NumResBlocks: 2, NumHeads: 4, NumHeadsUpsample: -1,
		AttentionResolutions: "16,8", DiffusionSteps: 1000, NoiseSchedule: "linear",
		RescaleTimesteps: true, RescaleLearnedSigmas: true, UseScaleShiftNorm: true, ClipDenoised: true}
	if got := Defaults(); got != want {
		t.Errorf("Defaults() = %+v\nwant %+v", got, want)
	}
}

// TestReadmeFlags parses the flags improved-diffusion's README gives for the CIFAR-10
// checkpoint and checks the tables they become.
func TestReadmeFlags(t *testing.T) {
	f, err := Parse(Source{"--model-flags", "--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3"},
		Source{"--diffusion-flags", "--diffusion_steps 4000 --noise_schedule cosine"})
	if err != nil {
		t.Fatal(err)
	}
	tab := f.Tables()
	wantNet := map[string]any{"name": "unet", "channels": int64(128), "mults": []any{int64(1), int64(2), int64(2), int64(2)},
		"norm": "group", "res_blocks": int64(3), "attention": []any{int64(16), int64(8)}, "heads": int64(4), "dropout": 0.3,
		"groups": int64(32), "scale_shift": true, "resample_conv": true, "time_scale": 0.25}
	if !reflect.DeepEqual(tab["network"], wantNet) {
		t.Errorf("network %v\nwant %v", tab["network"], wantNet)
	}
	for table, want := range map[string]map[string]any{
		"schedule":  {"name": "cosine", "T": int64(4000)},
		"predictor": {"name": "eps", "variance": "learned_range"},
		"loss":      {"name": "hybrid"},
		"sample":    {"name": "ancestral", "clip_denoised": true},
	} {
		if !reflect.DeepEqual(tab[table], want) {
			t.Errorf("[%s] %v, want %v", table, tab[table], want)
		}
	}
}

// TestFlagVariants: each flag's effect on the tables, one at a time.
func TestFlagVariants(t *testing.T) {
	for _, tc := range []struct {
		flags, table, key string
		want              any
	}{
		{"--image_size 32 --rescale_timesteps False", "network", "time_scale", 1.0},
		{"--image_size=32 --diffusion_steps 100", "network", "time_scale", 10.0},
		{"--image_size 64", "network", "mults", []any{int64(1), int64(2), int64(3), int64(4)}},
		{"--image_size 32 --use_scale_shift_norm no", "network", "scale_shift", false},
		{"--image_size 32 --attention_resolutions 16", "network", "attention", []any{int64(16)}},
		{"--image_size 32 --predict_xstart TRUE", "predictor", "name", "x0"},
		{"--image_size 32 --sigma_small t", "predictor", "variance", "fixed_small"},
		{"--image_size 32", "predictor", "variance", "fixed_large"},
		{"--image_size 32 --use_kl 1", "loss", "name", "vlb"},
		{"--image_size 32", "loss", "name", "simple"},
		{"--image_size 32 --timestep_respacing 250", "sample", "spacing", "linspace"},
		{"--image_size 32 --timestep_respacing 250", "sample", "name", "respaced"},
		{"--image_size 32 --timestep_respacing ddim25 --use_ddim True", "sample", "spacing", "ddim"},
		{"--image_size 32 --timestep_respacing ddim25 --use_ddim True", "sample", "steps", int64(25)},
		{"--image_size 32 --clip_denoised False", "sample", "clip_denoised", false},
		{"--image_size 32 --noise_schedule linear --diffusion_steps 4000", "schedule", "T", int64(4000)},
	} {
		f, err := Parse(Source{"--model-flags", tc.flags})
		if err != nil {
			t.Fatalf("%s: %v", tc.flags, err)
		}
		if got := f.Tables()[tc.table][tc.key]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: [%s] %s = %#v, want %#v", tc.flags, tc.table, tc.key, got, tc.want)
		}
	}
}

// TestFlagRefusals: every refusal names the option, the flag and what is valid.
func TestFlagRefusals(t *testing.T) {
	for _, tc := range []struct {
		model, diffusion string
		want             []string
	}{
		{"--image_size 32 --bogus 1", "", []string{"--model-flags", "--bogus", "valid: image_size"}},
		{"--image_size 32", "--diffusion_steps many", []string{"--diffusion-flags", "--diffusion_steps", `"many" is not an integer`}},
		{"--image_size 32 --learn_sigma maybe", "", []string{"--learn_sigma", "not a boolean"}},
		{"--image_size 16", "", []string{"--model-flags", "--image_size", "valid: 32, 64, 256"}},
		{"--image_size 32 --num_heads 3", "", []string{"--model-flags", "--num_heads", "does not divide"}},
		{"--image_size 32 --num_channels 64", "--num_heads 5", []string{"--diffusion-flags", "--num_heads"}},
		{"--image_size 32", "--noise_schedule sqrt", []string{"--diffusion-flags", "--noise_schedule", "valid: linear, cosine"}},
		{"--image_size 32 --attention_resolutions 12", "", []string{"--attention_resolutions", "valid: [32 16 8 4]"}},
		{"--image_size 32", "--timestep_respacing 10,20", []string{"--timestep_respacing", "sections"}},
		{"--image_size 32", "--diffusion_steps 4 --timestep_respacing ddim3", []string{"--timestep_respacing", "stride"}},
		{"--image_size 32 --num_channels 48", "", []string{"--num_channels", "multiple of 32"}},
		{"--image_size 32 --class_cond True", "", []string{"--class_cond"}},
		{"--image_size 32 --dropout", "", []string{"--dropout", "needs a value"}},
		{"--image_size 32", "--image_size 32", []string{"--image_size", "given twice"}},
		{"image_size 32", "", []string{`"image_size" is not a flag`}},
	} {
		_, err := Parse(Source{"--model-flags", tc.model}, Source{"--diffusion-flags", tc.diffusion})
		if err == nil {
			t.Errorf("%q %q: no error", tc.model, tc.diffusion)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q %q: error %q lacks %q", tc.model, tc.diffusion, err, w)
			}
		}
	}
}
