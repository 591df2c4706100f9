package report

import (
	"cmp"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// nfeFigures draws, for every ranked metric of the groups that recorded it with an NFE,
// the metric against NFE (log scale): one line per sampler and schedule-and-training setting
// (the group's label without the sampler's step count), so that a sampler sweep of
// runner sample reads as a cost-quality curve. Nothing is drawn where fewer than two NFE
// values were recorded.
func nfeFigures(groups []*Group) []figure {
	var out []figure
	for _, key := range MetricKeys(groups) {
		if !samplerDependent(key) {
			continue
		}
		lines := map[string]plotter.XYs{}
		nfes := map[float64]bool{}
		for _, g := range groups {
			n, v := g.Stats["nfe"], g.Stats[key]
			if n == nil || v == nil || math.IsNaN(n.Mean) || math.IsNaN(v.Mean) || n.Mean <= 0 {
				continue
			}
			name := g.Params["sample.name"]
			if sp := g.Params["sample.spacing"]; sp != "" {
				name += " (" + sp + ")"
			}
			lines[name] = append(lines[name], plotter.XY{X: n.Mean, Y: v.Mean})
			nfes[n.Mean] = true
		}
		if len(nfes) < 2 {
			continue
		}
		p := plot.New()
		p.Title.Text = key + " against network evaluations per sample (means over seeds)"
		p.X.Label.Text, p.Y.Label.Text = "NFE", key
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range lines {
				if !yield(n) {
					return
				}
			}
		})
		var legend []legendEntry
		for i, name := range names {
			pts := lines[name]
			slices.SortFunc(pts, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
			l, s, err := plotter.NewLinePoints(pts)
			if err != nil {
				continue
			}
			l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
			s.Shape = plotutil.Shape(i)
			p.Add(l, s)
			keyOf(&legend, l.Color, name)
		}
		if f, err := render(p, key+" against NFE", 6*vg.Inch, 3.6*vg.Inch); err == nil {
			f.Legend = legend
			out = append(out, *f)
		}
	}
	return out
}

// samplerDependent says whether a ranked value measures the samples, so changes with the
// sampler (its declaration says it comes from them): not the bound (computed from the
// weights alone) nor what every run records (the loss, speeds, NFE itself).
func samplerDependent(key string) bool {
	rep, ok := plugins.Reported(key)
	return ok && rep.Better != plugins.NotRanked && rep.From == plugins.FromSamples
}
