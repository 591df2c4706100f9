package plugins

import "strings"

// RunReports declares the values that every run records besides its metrics' (the engine
// writes them), so that they are ranked and labelled like a metric's.
var RunReports = []Report{
	{Key: "final_loss", Better: LowerIsBetter, Unit: "loss", From: FromRun, Doc: "mean training loss over the last tenth of the steps"},
	{Key: "steps_per_sec", Better: HigherIsBetter, Unit: "steps/s", From: FromMachine, Doc: "training speed, compile steps excluded"},
	{Key: "samples_per_sec", Better: HigherIsBetter, Unit: "samples/s", From: FromMachine, Doc: "sampling speed"},
	{Key: "seconds_per_sample", Better: LowerIsBetter, Unit: "s", From: FromMachine, Doc: "sampling time per sample"},
	{Key: "nfe", Better: LowerIsBetter, Unit: "evaluations", From: FromRun, Doc: "network evaluations per sample (the sampler's cost)"},
	{Key: "samples_nonfinite_frac", Better: LowerIsBetter, Unit: "fraction", From: FromRun, Doc: "share of sample values that are NaN or infinite"},
	{Key: "diverged_at_step", Doc: "the step whose loss was not finite", Unit: "step", From: FromRun},
	{Key: "last_finite_loss", Doc: "the last finite loss before divergence", Unit: "loss", From: FromRun},
	{Key: "best_step", Doc: "the step of the checkpoint kept by train.keep = \"best:KEY\"", Unit: "step", From: FromRun},
	{Key: "best_value", Doc: "KEY of the checkpoint kept by train.keep = \"best:KEY\", evaluated during training", From: FromRun},
	{Key: "interrupted_at_step", Doc: "the last step trained before a signal", Unit: "step", From: FromRun},
}

// Reported finds the declaration of a recorded value: a run's own, or one a registered metric
// declares. A value nothing declares (a metric of a plugin this program does not link) is not
// found, and the report does not rank it. The value of another EMA of the weights
// (KEY@emaRATE) has KEY's declaration, whose Key then differs from the key asked for.
func Reported(key string) (Report, bool) {
	if base, _, ok := strings.Cut(key, "@"); ok { // fid@ema0.9999: fid of another EMA of the weights
		key = base
	}
	for _, r := range RunReports {
		if r.Key == key {
			return r, true
		}
	}
	for _, name := range Names(KindMetric) {
		p, _ := Lookup(KindMetric, name)
		for _, r := range p.Reports {
			if r.Key == key {
				return r, true
			}
		}
	}
	return Report{}, false
}

// Ranked reports whether a recorded value has a direction, and whether lower is better.
func Ranked(key string) (lower, ranked bool) {
	r, ok := Reported(key)
	if !ok || r.Better == NotRanked {
		return false, false
	}
	return r.Better == LowerIsBetter, true
}

// Reproducible reports whether a rerun must record a value bit for bit: every value but one
// that measures the machine (a value nothing declares included).
func Reproducible(key string) bool {
	r, ok := Reported(key)
	return !ok || r.From != FromMachine
}

// Declares reports whether the plugin (a metric) declares the value key.
func (p *Plugin) Declares(key string) bool {
	for _, r := range p.Reports {
		if r.Key == key {
			return true
		}
	}
	return false
}
