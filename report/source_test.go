package report

import (
	"slices"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// sourceProbe is a metric from outside the built-in set whose values come from the weights,
// the samples and the machine: the report must treat each as its declaration says, from the
// declaration alone (no list of names anywhere else).
func init() {
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "sourceprobe", Doc: "test metric",
		Reports: []plugins.Report{
			{Key: "probe_weights", Better: plugins.LowerIsBetter, From: plugins.FromWeights, Doc: "a value of the weights"},
			{Key: "probe_bound", Better: plugins.LowerIsBetter, From: plugins.FromWeights, PerExampleBound: 2, Doc: "twice the bound"},
			{Key: "probe_samples", Better: plugins.LowerIsBetter, From: plugins.FromSamples, Doc: "a value of the samples"},
			{Key: "probe_speed", Better: plugins.HigherIsBetter, From: plugins.FromMachine, Doc: "a speed"},
		},
		New: func(plugins.Values) (plugins.Metric, error) { return rankProbe{}, nil }})
}

// probeRuns makes three seeds of a group with the probe's values (B's a little lower), its
// sample and held-out sizes and its sampler's NFE.
func probeRuns(group, sampleN, evalN string, nfe, shift float64) []*results.Run {
	var out []*results.Run
	for seed := range 3 {
		v := 10 + float64(seed) - shift + 0.01*float64(seed*seed)
		out = append(out, &results.Run{ID: int64(len(out)+1) + int64(group[0])*10, Spec: "probe", GroupHash: group, Seed: seed,
			Status: results.StatusFinished,
			Params: map[string]string{"variant": group, "sample.name": "ddim", "sample.n": sampleN, "eval.n": evalN},
			Summaries: map[string]float64{"nfe": nfe, "probe_weights": v, "probe_bound": v, "probe_samples": v,
				"probe_speed": v}})
	}
	return out
}

// TestComparisonFollowsTheValuesSource: a value of the weights is compared across groups that
// drew different numbers of samples, one of the samples is not; both need as many held-out
// examples. Nothing but the metric's declaration says which is which.
func TestComparisonFollowsTheValuesSource(t *testing.T) {
	cases := []struct {
		name                   string
		evalB, samplesB        string
		weightsOK, samplesOK   bool
		weightsWhy, samplesWhy string
	}{
		{"same sizes", "300", "500", true, true, "", ""},
		{"more samples in B", "300", "1000", true, false, "", "different samples"},
		{"more held-out examples in B", "600", "500", false, false, "different held-out examples", "different held-out examples"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			groups := GroupRuns(append(probeRuns("A", "500", "300", 10, 0), probeRuns("B", c.samplesB, c.evalB, 10, 1)...))
			rows := Diff(nil, byLabel(groups, "A"), byLabel(groups, "B"))
			for _, k := range []struct {
				key string
				ok  bool
				why string
			}{{"probe_weights", c.weightsOK, c.weightsWhy}, {"probe_samples", c.samplesOK, c.samplesWhy}} {
				d := diffOf(rows, k.key)
				if d.Metric != k.key || d.Comparable != k.ok || !strings.Contains(d.Reason, k.why) {
					t.Errorf("%s: comparable %v (%q), want %v (%q)", k.key, d.Comparable, d.Reason, k.ok, k.why)
				}
			}
		})
	}
}

// TestNFEFiguresDrawValuesOfTheSamples: against NFE the report draws the values that come
// from the samples, not those of the weights or of the machine.
func TestNFEFiguresDrawValuesOfTheSamples(t *testing.T) {
	groups := GroupRuns(append(probeRuns("A", "500", "300", 10, 0), probeRuns("B", "500", "300", 100, 1)...))
	var drawn []string
	for _, f := range nfeFigures(groups) {
		drawn = append(drawn, strings.TrimSuffix(f.Title, " against NFE"))
	}
	for key, want := range map[string]bool{"probe_samples": true, "probe_weights": false, "probe_bound": false, "probe_speed": false} {
		if slices.Contains(drawn, key) != want {
			t.Errorf("%s drawn against NFE: %v, want %v (drawn: %v)", key, !want, want, drawn)
		}
	}
}
