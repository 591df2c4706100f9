package engine

import (
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// datasetStandIn is a dataset of the shape that the trial's [data] parameters declare
// (plugins.Plugin.Shape), holding no data; ok is false when the plugin declares none or its
// parameters give none.
func datasetStandIn(t *spec.Trial) (plugins.Dataset, bool) {
	info, _ := plugins.Info(plugins.KindDataset)
	c := t.Section(info.Table)
	p, err := plugins.Lookup(plugins.KindDataset, c.Name)
	if err != nil || p.Shape == nil {
		return nil, false
	}
	own := map[string]any{}
	for _, d := range p.Params {
		if v, ok := c.Params[d.Name]; ok {
			own[d.Name] = v
		}
	}
	vals, err := p.Resolve(own)
	if err != nil {
		return nil, false
	}
	s, err := p.Shape(vals)
	if err != nil {
		return nil, false
	}
	base := standIn{s}
	switch {
	case s.H > 0 && s.Classes > 0:
		return labeledImageStandIn{imageStandIn{base}}, true
	case s.H > 0:
		return imageStandIn{base}, true
	case s.Classes > 0:
		return labeledStandIn{base}, true
	}
	return base, true
}

// standIn is a dataset that has a shape and no data: a job holding it is described, never
// run (its Train and HeldOut panic).
type standIn struct{ s plugins.DataShape }

func (d standIn) Dim() int       { return d.s.Dim }
func (d standIn) Discrete() bool { return d.s.Discrete }
func (d standIn) Train(uint64, int, int, []float32) {
	panic("engine: a dry run's stand-in dataset has no data")
}
func (d standIn) HeldOut(int) []float32 { panic("engine: a dry run's stand-in dataset has no data") }

type imageStandIn struct{ standIn }

func (d imageStandIn) ImageShape() (h, w, c int) { return d.s.H, d.s.W, d.s.C }

type labeledStandIn struct{ standIn }

func (d labeledStandIn) Classes() int { return d.s.Classes }
func (d labeledStandIn) TrainLabeled(uint64, int, int, []float32, []int32) {
	panic("engine: a dry run's stand-in dataset has no data")
}

type labeledImageStandIn struct{ imageStandIn }

func (d labeledImageStandIn) Classes() int { return d.s.Classes }
func (d labeledImageStandIn) TrainLabeled(uint64, int, int, []float32, []int32) {
	panic("engine: a dry run's stand-in dataset has no data")
}
