package report

import (
	"testing"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// rankProbe is a metric from outside the built-in set: the report must rank its values from
// its declaration alone.
type rankProbe struct{}

func (rankProbe) Evaluate(plugins.EvalInput) (plugins.EvalResult, error) {
	return plugins.EvalResult{}, nil
}

func init() {
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "rankprobe", Doc: "test metric",
		Reports: []plugins.Report{
			{Key: "probe_up", Better: plugins.HigherIsBetter, Unit: "u", From: plugins.FromSamples, Doc: "higher wins"},
			{Key: "probe_down", Better: plugins.LowerIsBetter, Unit: "u", From: plugins.FromSamples, Doc: "lower wins"},
			{Key: "probe_context", Unit: "u", From: plugins.FromSamples, Doc: "not ranked"},
		},
		New: func(plugins.Values) (plugins.Metric, error) { return rankProbe{}, nil }})
}

// TestBestFollowsTheMetricsDeclaration: higher-is-better, lower-is-better, not ranked, and a
// value nothing declares (not ranked either), each decided by the declaration only.
func TestBestFollowsTheMetricsDeclaration(t *testing.T) {
	mk := func(id int64, group, sched string, v float64) *results.Run {
		return &results.Run{ID: id, Spec: "s", GroupHash: group, Status: "finished",
			Params:    map[string]string{"schedule.name": sched},
			Summaries: map[string]float64{"probe_up": v, "probe_down": v, "probe_context": v, "undeclared": v}}
	}
	groups := GroupRuns([]*results.Run{mk(1, "a", "linear", 1), mk(2, "b", "cosine", 2)})
	lowGroup, highGroup := groups[0], groups[1]
	cases := []struct {
		key             string
		lowBest, hiBest bool
	}{
		{"probe_up", false, true},
		{"probe_down", true, false},
		{"probe_context", false, false},
		{"undeclared", false, false},
	}
	for _, c := range cases {
		if lowGroup.Stats[c.key].Best != c.lowBest || highGroup.Stats[c.key].Best != c.hiBest {
			t.Errorf("%s: best marks (value 1: %v, value 2: %v), want (%v, %v)", c.key,
				lowGroup.Stats[c.key].Best, highGroup.Stats[c.key].Best, c.lowBest, c.hiBest)
		}
	}
}
