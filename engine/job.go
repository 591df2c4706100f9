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
	// DataAbsent, set only by PrepareDry, is why the dataset could not be built: the job
	// then holds a stand-in of the shape its parameters declare (plugins.Plugin.Shape), which
	// can be sized and printed but not trained on.
	DataAbsent string
	// ClassCond says the network is conditioned on Classes class labels (train.class_cond);
	// Guidance is the sampling's classifier-free guidance scale (see conditional.go).
	ClassCond bool
	Classes   int
	Guidance  float64
}

type namedMetric struct {
	Name   string
	Metric plugins.Metric
	Plugin *plugins.Plugin // for the values it declares
}

// Prepare builds the plugins of a trial. Its errors are spec errors (bad input).
func Prepare(t *spec.Trial) (*Job, error) { return PrepareShared(t, nil) }

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
func PrepareShared(t *spec.Trial, cache DataCache) (*Job, error) { return prepare(t, cache, false) }

// PrepareDry is PrepareShared for a job that will only be described (--dry-run): a dataset
// whose files cannot be read, and whose plugin declares its shape, is replaced by a stand-in
// of that shape, and Job.DataAbsent says why.
func PrepareDry(t *spec.Trial, cache DataCache) (*Job, error) { return prepare(t, cache, true) }

func prepare(t *spec.Trial, cache DataCache, dry bool) (*Job, error) {
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
		if err != nil && dry && k.Kind == plugins.KindDataset {
			if stub, ok := datasetStandIn(t); ok {
				v, j.DataAbsent, err = stub, err.Error(), nil
			}
		}
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
	predictor := built[plugins.KindPredictor].(plugins.Predictor)
	j.Loss = built[plugins.KindLoss].(plugins.Loss)
	j.Net = built[plugins.KindNetwork].(plugins.Network)
	j.Sampler = built[plugins.KindSampler].(plugins.Sampler)
	j.Diffusion = newDiffusion(t, process, predictor, j.Data)
	if err := j.prepareConditioning(); err != nil {
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
	if j.Timesteps, err = j.newTimestepSampler(); err != nil {
		return nil, fmt.Errorf("[loss] timesteps: %w", err)
	}
	return j, nil
}

// newTimestepSampler builds a fresh timestep sampler of the trial's [loss] timesteps.
func (j *Job) newTimestepSampler() (plugins.TimestepSampler, error) {
	return plugins.NewTimestepSampler(j.Trial.Settings.Loss.Timesteps, j.Diffusion.T)
}
