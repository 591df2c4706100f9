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

// newProcess derives the trial's diffusion process from its schedule and the option that
// changes it, zero terminal SNR.
func newProcess(t *spec.Trial, sched plugins.Schedule) (*diffusion.Process, error) {
	betas, err := sched.Betas(t.T())
	if err != nil {
		return nil, err
	}
	rescale := t.Section("schedule").Params.Bool("zero_terminal_snr")
	if rescale {
		betas = diffusion.RescaleZeroTerminalSNR(betas)
	}
	p, err := diffusion.NewProcess(betas)
	if err != nil && rescale {
		// The rescale divides by alpha_bar's fall from the first step to the last: a chain
		// whose alpha_bar does not fall (tiny betas) or is 0 from the start has none.
		return nil, fmt.Errorf("[schedule] zero_terminal_snr: %s at T = %d cannot be rescaled, its alpha_bar does not fall "+
			"between the first step and the last (%v); change the schedule's parameters or T", t.Section("schedule").Name, t.T(), err)
	}
	if err != nil {
		return nil, err
	}
	p.Rescaled = rescale
	return p, nil
}

// newDiffusion is the trial's diffusion math: the chain p, what the predictor says the
// network's output means, the kind of data, and the [loss] keys that change the VLB term.
func newDiffusion(t *spec.Trial, p *diffusion.Process, predictor plugins.Predictor, data plugins.Dataset) *diffusion.Diffusion {
	loss := t.Section("loss").Params
	return &diffusion.Diffusion{Process: p, Parameterization: predictor.Parameterization(), Discrete: data.Discrete(),
		TanhDecoderCDF: loss.String("decoder_cdf") == "tanh", VLBBits: loss.String("vlb_units") == "bits"}
}

// PrepareShared is Prepare with datasets taken from, and added to, cache (nil for none).
func PrepareShared(t *spec.Trial, cache DataCache) (*Job, error) {
	j := &Job{Trial: t}
	// build makes the plugin that the kind's own table names, from that table's values.
	build := func(kind plugins.Kind) (any, error) {
		info, _ := plugins.Info(kind)
		section := info.Table
		c := t.Section(section)
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
			return nil, fmt.Errorf("[%s] %s: %w", section, c.Name, err)
		}
		return v, nil
	}
	sched, err := build(plugins.KindSchedule)
	if err != nil {
		return nil, err
	}
	process, err := newProcess(t, sched.(plugins.Schedule))
	if err != nil {
		return nil, err
	}
	var predictor plugins.Predictor
	// Register has checked each constructor's result type against its kind's contract.
	parts := []struct {
		kind plugins.Kind
		into func(any)
	}{
		{plugins.KindDataset, func(v any) { j.Data = v.(plugins.Dataset) }},
		{plugins.KindPredictor, func(v any) { predictor = v.(plugins.Predictor) }},
		{plugins.KindLoss, func(v any) { j.Loss = v.(plugins.Loss) }},
		{plugins.KindNetwork, func(v any) { j.Net = v.(plugins.Network) }},
		{plugins.KindSampler, func(v any) { j.Sampler = v.(plugins.Sampler) }},
	}
	dataKey := fmt.Sprintf("%s %v", t.Section("data").Name, t.Section("data").Params)
	for _, p := range parts {
		if d, ok := cache[dataKey]; ok && p.kind == plugins.KindDataset {
			p.into(d)
			continue
		}
		start := time.Now()
		v, err := build(p.kind)
		if err != nil {
			return nil, err
		}
		p.into(v)
		if p.kind == plugins.KindDataset {
			j.DataSeconds = time.Since(start).Seconds()
			if cache != nil {
				cache[dataKey] = j.Data
			}
		}
	}
	j.Diffusion = newDiffusion(t, process, predictor, j.Data)
	if err := j.prepareConditioning(); err != nil {
		return nil, err
	}
	if err := j.checkZeroTerminalSNR(sched.(plugins.Schedule)); err != nil {
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
	}
	if j.SampleProcess, j.SampleTimesteps, err = j.Sampler.Plan(j.Diffusion.Process); err != nil {
		return nil, fmt.Errorf("[sample] %s: %w", t.Section("sample").Name, err)
	}
	for _, name := range t.Section("eval").Params.Strings("metrics") {
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
	return plugins.NewTimestepSampler(j.Trial.Section("loss").Params.String("timesteps"), j.Diffusion.T)
}
