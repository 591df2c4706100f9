package engine_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/samplers"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// looseMetric reports one value it declares and, when loose, one it does not.
type looseMetric struct{ loose bool }

func (m looseMetric) Evaluate(plugins.EvalInput) (plugins.EvalResult, error) {
	v := map[string]float64{"declared_value": 1}
	if m.loose {
		v["undeclared_value"] = 2
	}
	return plugins.EvalResult{Values: v}, nil
}

// defaultsMetric reports the parameter it was built with.
type defaultsMetric struct{ scale float64 }

func (m defaultsMetric) Evaluate(plugins.EvalInput) (plugins.EvalResult, error) {
	return plugins.EvalResult{Values: map[string]float64{"built_scale": m.scale}}, nil
}

// cautiousSampler is a sampler from outside the built-in set that says it cannot start a
// chain at alpha_bar_T = 0.
type cautiousSampler struct{ samplers.Euler }

func (cautiousSampler) RefuseZeroSNR() (why, instead string) {
	return "cannot take that first step", "use euler"
}

// boundMetric asks for the bound on half the held-out examples, as a metric of another
// module might.
type boundMetric struct{}

func (boundMetric) Evaluate(in plugins.EvalInput) (plugins.EvalResult, error) {
	prior, terms, decoder, err := in.Bound(in.HeldOut[:len(in.HeldOut)/2])
	return plugins.EvalResult{Values: map[string]float64{"half_bound": prior + terms + decoder}}, err
}

func init() {
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "halfbound", Doc: "test metric",
		Reports: []plugins.Report{{Key: "half_bound", From: plugins.FromWeights, Doc: "the bound on half the held-out examples"}},
		New:     func(plugins.Values) (plugins.Metric, error) { return boundMetric{}, nil }})
	plugins.Register(plugins.Plugin{Kind: plugins.KindSampler, Name: "cautious", Doc: "test sampler",
		New: func(plugins.Values) (plugins.Sampler, error) {
			return cautiousSampler{samplers.Euler{Spaced: samplers.Spaced{Steps: 5}}}, nil
		}})
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "defaultsmetric", Doc: "test metric",
		Params:  []plugins.Param{{Name: "scale", Type: plugins.Float, Default: 0.25, Doc: "a parameter with a default"}},
		Reports: []plugins.Report{{Key: "built_scale", From: plugins.FromRun, Doc: "the scale it was built with"}},
		New: func(v plugins.Values) (plugins.Metric, error) {
			return defaultsMetric{v.Float("scale")}, nil
		}})
	for name, loose := range map[string]bool{"tidymetric": false, "loosemetric": true} {
		plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: name, Doc: "test metric",
			Reports: []plugins.Report{{Key: "declared_value", Better: plugins.LowerIsBetter, From: plugins.FromSamples, Doc: "a value"}},
			New:     func(plugins.Values) (plugins.Metric, error) { return looseMetric{loose}, nil }})
	}
}

// TestMetricValuesMustBeDeclared: a metric's declared values are recorded; a value it did
// not declare fails the run with the metric's name and the key, since the report could not
// rank or label it.
func TestMetricValuesMustBeDeclared(t *testing.T) {
	h := newHarness(t)
	ok := h.run(h.jobs(tiny, `eval.metrics=["tidymetric"]`)[0])
	if ok.Status != results.StatusFinished || ok.Summaries["declared_value"] != 1 {
		t.Fatalf("declared values: %s, %v, summaries %v", ok.Status, ok.Err, ok.Summaries)
	}
	bad := h.run(h.jobs(tiny, `eval.metrics=["loosemetric"]`)[0])
	if bad.Status != results.StatusFailed || bad.Err == nil ||
		!strings.Contains(bad.Err.Error(), `metric loosemetric reported "undeclared_value", which it does not declare`) {
		t.Errorf("undeclared value: status %s, err %v", bad.Status, bad.Err)
	}
}

// TestMetricsGetTheirDeclaredDefaults: a metric is built with the defaults of the parameters
// it declares (a spec gives metrics none).
func TestMetricsGetTheirDeclaredDefaults(t *testing.T) {
	h := newHarness(t)
	out := h.run(h.jobs(tiny, `eval.metrics=["defaultsmetric"]`)[0])
	if out.Status != results.StatusFinished || out.Summaries["built_scale"] != 0.25 {
		t.Errorf("status %s (%v), built_scale %v; want finished with the default 0.25", out.Status, out.Err, out.Summaries["built_scale"])
	}
}

// TestSamplerDeclaresItCannotStartAtZeroSNR: a chain ending at alpha_bar_T = 0 is refused for
// a sampler that says it cannot start there, whatever its name, with its reasons and the
// chain's cause; the same sampler runs on a chain that does not end there.
func TestSamplerDeclaresItCannotStartAtZeroSNR(t *testing.T) {
	for _, c := range []struct {
		sets []string
		want string // "" for accepted
	}{
		{[]string{"schedule.zero_terminal_snr=true", "predictor.name=v", "sample.name=cautious"},
			"[sample] cautious cannot take that first step ([schedule] zero_terminal_snr); use euler"},
		{[]string{"predictor.name=v", "sample.name=cautious"}, ""},
	} {
		trials, err := spec.Parse("z.toml", []byte(tiny), c.sets)
		if err != nil {
			t.Fatal(err)
		}
		_, err = engine.Prepare(trials[0])
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: %v, want %q", c.sets, err, c.want)
		}
	}
}

// TestBoundRecordsComeFromTheEnginesBound: the bound's records by timestep and by example are
// written by the engine's bound whichever metric asks for it, for the examples it was asked
// about (T = 20 timesteps, half of 60 held-out examples).
func TestBoundRecordsComeFromTheEnginesBound(t *testing.T) {
	h := newHarness(t)
	out := h.run(h.jobs(tiny, `eval.metrics=["halfbound"]`, "eval.n=60")[0])
	if out.Status != results.StatusFinished {
		t.Fatalf("%s: %v", out.Status, out.Err)
	}
	for name, rows := range map[string]int{results.BoundArtifact: 20, results.BoundExamplesArtifact: 30} {
		path, err := h.store.ArtifactPath(out.RunID, name)
		if err != nil || path == "" {
			t.Fatalf("no %s: %v", name, err)
		}
		b, err := os.ReadFile(path)
		if n := strings.Count(string(b), "\n") - 1; err != nil || n != rows {
			t.Errorf("%s: %d rows (%v), want %d", name, n, err, rows)
		}
	}
}
