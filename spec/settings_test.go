package spec_test

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// TestSettingsAreTheResolvedTables: the typed settings of every trial of every shipped spec
// (and of one rebuilt from its canonical form, as rerun and resume do) hold exactly the
// resolved values of their tables.
func TestSettingsAreTheResolvedTables(t *testing.T) {
	files, err := filepath.Glob("../experiments/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped specs: %v", err)
	}
	for _, f := range files {
		trials, err := spec.Load(f, []string{"train.ema=[0.9, 0.99]"})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		back, err := spec.FromCanonical(trials[0].Canonical())
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tr := range append(trials, back) {
			s := tr.Settings
			train, eval := tr.Section("train").Params, tr.Section("eval").Params
			sched, loss, sample := tr.Section("schedule").Params, tr.Section("loss").Params, tr.Section("sample").Params
			want := spec.Settings{
				Train: spec.TrainSettings{Steps: train.Int("steps"), Batch: train.Int("batch"), LR: train.Float("lr"),
					Warmup: train.Int("warmup"), GradClip: train.Float("grad_clip"), WeightDecay: train.Float("weight_decay"),
					EMA: train.Floats("ema"), OffsetNoise: train.Float("offset_noise"), ClassCond: train.Bool("class_cond"),
					LabelDropout: train.Float("label_dropout"), LogEvery: train.Int("log_every"), CheckpointEvery: train.Int("checkpoint_every")},
				Eval:     spec.EvalSettings{Metrics: eval.Strings("metrics"), N: eval.Int("n")},
				Schedule: plugins.ScheduleSettings{T: sched.Int("T"), ZeroTerminalSNR: sched.Bool("zero_terminal_snr")},
				Loss: plugins.LossSettings{Timesteps: loss.String("timesteps"), DecoderCDF: loss.String("decoder_cdf"),
					VLBUnits: loss.String("vlb_units")},
				Sample: plugins.SampleSettings{N: sample.Int("n"), ClipDenoised: sample.Bool("clip_denoised"), Guidance: sample.Float("guidance")},
			}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("%s: settings\n%+v\nwant\n%+v", f, s, want)
			}
		}
	}
}

// TestSectionOrder: the order of the tables comes from the registry's kinds with [train] and
// [eval] in their places, and is the order specs are written in.
func TestSectionOrder(t *testing.T) {
	want := []string{"data", "schedule", "predictor", "loss", "network", "train", "sample", "eval"}
	if got := spec.SectionOrder(); !slices.Equal(got, want) {
		t.Errorf("SectionOrder() = %v, want %v", got, want)
	}
}
