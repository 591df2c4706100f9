package engine

import (
	"fmt"
	"time"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// Job is a trial with every plugin built: what Run needs, checked before anything is
// written. Building a job touches no file and no database.
type Job struct {
	Trial *spec.Trial
	// Diffusion is the trial's diffusion math: its chain (Diffusion.Process), what the
	// network's output means (from the predictor) and how data are scored.
	Diffusion *diffusion.Diffusion
	Data      plugins.Dataset
	Loss      plugins.Loss
	Net       plugins.Network
	Sampler   plugins.Sampler
	// SampleProcess and SampleTimesteps are the sampler's plan: the chain it runs and the
	// original timestep of each of its steps.
	SampleProcess   *diffusion.Process
	SampleTimesteps []int
	Metrics         []namedMetric
	Timesteps       plugins.TimestepSampler
	// DataSeconds is how long building the dataset (reading and preparing files) took.
	DataSeconds float64
	// ClassCond says the network is conditioned on Classes class labels (train.class_cond);
	// Guidance is the sampling's classifier-free guidance scale (see conditional.go).
	ClassCond bool
	Classes   int
	Guidance  float64
	// Noise is the x_T that [sample] noise gives, nil where the chain draws it from the seed.
	Noise *InitialNoise
	// during is what is evaluated during training ([eval] every); nil for nothing.
	during *during
}

type namedMetric struct {
	Name   string
	Metric plugins.Metric
	Plugin *plugins.Plugin // for the values it declares
}

// Prepare builds the plugins of a trial. Its errors are spec errors (bad input).
func Prepare(t *spec.Trial) (*Job, error) { return PrepareShared(t, nil) }

// Inspect is PrepareShared for a trial that is resolved to be shown or sent elsewhere
// (--dry-run, a sweep submitted to other machines), not run here: a dataset that defers its
// files (plugins.DeferredData) does not read them, so the trial resolves where they are
// absent. The job must not be run.
func Inspect(t *spec.Trial, cache DataCache) (*Job, error) { return prepare(t, cache, false) }

// DataCache shares datasets between the trials of a sweep: trials whose [data] tables are
// the same get the same dataset value (datasets are read-only once built; Train and HeldOut
// are pure functions). Without it, a sweep of thousands of trials holds thousands of copies.
type DataCache map[string]plugins.Dataset

// NewProcess builds the trial's schedule and derives its diffusion process, as a run does:
// what `runner schedule` prints.
func NewProcess(t *spec.Trial) (*diffusion.Process, error) {
	_, p, err := newProcess(t)
	return p, err
}

// newProcess builds the trial's schedule and derives its diffusion process from it under the
// keys every schedule shares.
func newProcess(t *spec.Trial) (plugins.Schedule, *diffusion.Process, error) {
	built, err := buildPlugin(t, plugins.KindSchedule)
	if err != nil {
		return nil, nil, err
	}
	sched := built.(plugins.Schedule)
	p, err := t.Settings.Schedule.Process(t.Section("schedule").Name, sched)
	if err != nil {
		return nil, nil, err
	}
	return sched, p, nil
}

// buildPlugin makes the plugin that a kind's own table names, from that table's values less
// the keys the kind shares (those are the trial's Settings).
func buildPlugin(t *spec.Trial, kind plugins.Kind) (any, error) {
	info, _ := plugins.Info(kind)
	c := t.Section(info.Table)
	p, err := plugins.Lookup(kind, c.Name)
	if err != nil {
		return nil, err
	}
	own := plugins.Values{}
	for _, d := range p.Params {
		own[d.Name] = c.Params[d.Name]
	}
	v, err := p.Build(own)
	if err != nil {
		return nil, fmt.Errorf("[%s] %s: %w", info.Table, c.Name, err)
	}
	return v, nil
}

// newDiffusion is the trial's diffusion math: the chain p, what the predictor says the
// network's output means, the kind of data, and the [loss] keys that change the VLB term.
func newDiffusion(t *spec.Trial, p *diffusion.Process, predictor plugins.Predictor, data plugins.Dataset) *diffusion.Diffusion {
	loss := t.Settings.Loss
	return &diffusion.Diffusion{Process: p, Parameterization: predictor.Parameterization(), Discrete: data.Discrete(),
		TanhDecoderCDF: loss.DecoderCDF == "tanh", VLBBits: loss.VLBUnits == "bits"}
}

// PrepareShared is Prepare with datasets taken from, and added to, cache (nil for none).
func PrepareShared(t *spec.Trial, cache DataCache) (*Job, error) { return prepare(t, cache, true) }

// prepare builds a trial's plugins, reading the data of a deferred dataset when load is set.
func prepare(t *spec.Trial, cache DataCache, load bool) (*Job, error) {
	j := &Job{Trial: t}
	sched, process, err := newProcess(t)
	if err != nil {
		return nil, err
	}
	// Every kind with a table of its own is built, the schedule above; Register has checked
	// each constructor's result type against its kind's contract.
	built := map[plugins.Kind]any{plugins.KindSchedule: sched}
	dataKey := fmt.Sprintf("%s %v", t.Section("data").Name, t.Section("data").Params)
	for _, k := range plugins.Kinds() {
		if !k.OwnTable() || built[k.Kind] != nil {
			continue
		}
		if d, ok := cache[dataKey]; ok && k.Kind == plugins.KindDataset {
			built[k.Kind] = d
			continue
		}
		start := time.Now()
		v, err := buildPlugin(t, k.Kind)
		if err != nil {
			return nil, err
		}
		built[k.Kind] = v
		if k.Kind == plugins.KindDataset {
			j.DataSeconds = time.Since(start).Seconds()
			if cache != nil {
				cache[dataKey] = v.(plugins.Dataset)
			}
		}
	}
	j.Data = built[plugins.KindDataset].(plugins.Dataset)
	if d, ok := j.Data.(plugins.DeferredData); ok && load {
		start := time.Now()
		if err := d.Load(); err != nil {
			return nil, fmt.Errorf("[data] %s: %w", t.Section("data").Name, err)
		}
		j.DataSeconds += time.Since(start).Seconds()
	}
	predictor := built[plugins.KindPredictor].(plugins.Predictor)
	j.Loss = built[plugins.KindLoss].(plugins.Loss)
	j.Net = built[plugins.KindNetwork].(plugins.Network)
	j.Sampler = built[plugins.KindSampler].(plugins.Sampler)
	j.Diffusion = newDiffusion(t, process, predictor, j.Data)
	if err := j.prepareConditioning(); err != nil {
		return nil, err
	}
	if err := j.checkFlip(); err != nil {
		return nil, err
	}
	if err := j.checkZeroTerminalSNR(sched); err != nil {
		return nil, err
	}
	if err := j.checkEMARates(); err != nil {
		return nil, err
	}
	if err := j.checkLossPredictor(predictor); err != nil {
		return nil, err
	}
	if in, ok := j.Net.(plugins.ImageNetwork); ok {
		img, ok := j.Data.(plugins.ImageData)
		if !ok {
			return nil, fmt.Errorf("[network] %s needs image data; [data] %s is not images (use mlp)",
				t.Section("network").Name, t.Section("data").Name)
		}
		in.SetImageShape(img.ImageShape())
		if ck, ok := j.Net.(plugins.ImageShapeChecker); ok {
			if err := ck.CheckImageShape(img.ImageShape()); err != nil {
				return nil, fmt.Errorf("[network] %s: %w", t.Section("network").Name, err)
			}
		}
	}
	if j.SampleProcess, j.SampleTimesteps, err = j.Sampler.Plan(j.Diffusion.Process); err != nil {
		return nil, fmt.Errorf("[sample] %s: %w", t.Section("sample").Name, err)
	}
	for _, name := range t.Settings.Eval.Metrics {
		p, err := plugins.Lookup(plugins.KindMetric, name)
		if err != nil {
			return nil, fmt.Errorf("[eval] metrics: %w", err)
		}
		// A spec gives a metric no parameters: it is built with its declared defaults.
		vals, err := p.Resolve(nil)
		if err != nil {
			return nil, fmt.Errorf("[eval] metrics: %s: %w", name, err)
		}
		m, err := p.Build(vals)
		if err != nil {
			return nil, fmt.Errorf("[eval] metrics: %s: %w", name, err)
		}
		j.Metrics = append(j.Metrics, namedMetric{name, m.(plugins.Metric), p})
	}
	// A dataset without examples refuses its metrics first: their weights and references
	// (prepareMetrics) would be looked for in vain.
	if err := j.checkLayoutOnly(); err != nil {
		return nil, err
	}
	if load {
		if err := j.prepareMetrics(); err != nil {
			return nil, err
		}
	}
	if err := j.prepareDuring(); err != nil {
		return nil, err
	}
	if j.Timesteps, err = j.newTimestepSampler(); err != nil {
		return nil, fmt.Errorf("[loss] timesteps: %w", err)
	}
	if name := t.Settings.Sample.Noise; name != "" {
		if j.Noise, err = loadNoise(name, t.File, t.Settings.Sample.N, j.Data); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// prepareMetrics gives the metrics that need more than the data (plugins.PreparedMetric)
// the [eval] keys that choose their features and reference, so that a missing weights or
// statistics file refuses the run before it trains.
func (j *Job) prepareMetrics() error {
	ev := j.Trial.Settings.Eval
	setup := plugins.MetricSetup{Featurizer: ev.Featurizer, ReferenceSplit: ev.ReferenceSplit}
	for _, f := range []struct {
		key  string
		name string
		into *string
	}{{"inception", ev.Inception, &setup.Inception}, {"reference", ev.Reference, &setup.Reference}} {
		if f.name == "" {
			continue
		}
		p, err := noisePath(f.name, j.Trial.File)
		if err != nil {
			return fmt.Errorf("[eval] %s = %q: %w", f.key, f.name, err)
		}
		*f.into = p
	}
	if img, ok := j.Data.(plugins.ImageData); ok {
		setup.H, setup.W, setup.C = img.ImageShape()
	}
	if fd, ok := j.Data.(plugins.FeaturizedData); ok {
		setup.DataFeaturizer = fd.Featurizer()
	}
	for _, nm := range j.Metrics {
		if pm, ok := nm.Metric.(plugins.PreparedMetric); ok {
			if err := pm.Prepare(setup); err != nil {
				return fmt.Errorf("[eval] metrics: %s: %w", nm.Name, err)
			}
		}
	}
	return nil
}

// newTimestepSampler builds a fresh timestep sampler of the trial's [loss] timesteps.
func (j *Job) newTimestepSampler() (plugins.TimestepSampler, error) {
	return plugins.NewTimestepSampler(j.Trial.Settings.Loss.Timesteps, j.Diffusion.T)
}

// checkLayoutOnly refuses what a dataset without examples (plugins.LayoutOnlyData) cannot
// give: training, and metrics, which all compare with data or read them.
func (j *Job) checkLayoutOnly() error {
	lo, ok := j.Data.(plugins.LayoutOnlyData)
	if !ok {
		return nil
	}
	name := j.Trial.Section("data").Name
	if j.Trial.Kind != spec.KindImported && j.Trial.Kind != spec.KindSample {
		return fmt.Errorf("[data] %s has no examples to train on: %s", name, lo.LayoutOnly())
	}
	if len(j.Metrics) > 0 {
		return fmt.Errorf("[eval] metrics: %s needs data, and [data] %s has none: %s (or sample with --set eval.metrics=[])",
			j.Metrics[0].Name, name, lo.LayoutOnly())
	}
	return nil
}
