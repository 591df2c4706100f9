package report

import (
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// boundFigure draws each group's L_t against t (mean over the seeds that recorded it), in
// bits per dimension: where in the chain the bound is spent. The terms at t = 0 (the decoder)
// are left out, as their scale is another.
func boundFigure(groups []*Group, arts *Artifacts) (*figure, error) {
	p := plot.New()
	p.Title.Text = "bound per timestep (L_t, t >= 1; mean over seeds)"
	p.X.Label.Text, p.Y.Label.Text = "t", "bits/dim"
	drawn, positive := 0, true
	var key []legendEntry
	for _, g := range groups {
		var sum []float64
		runs := 0
		for _, r := range g.Runs {
			terms := readBoundTerms(arts, r.ID)
			if terms == nil {
				continue
			}
			if sum == nil {
				sum = make([]float64, len(terms))
			}
			if len(terms) != len(sum) {
				continue
			}
			for t, v := range terms {
				sum[t] += v
			}
			runs++
		}
		if runs == 0 || len(sum) < 2 {
			continue
		}
		pts := make(plotter.XYs, 0, len(sum)-1)
		for t := 1; t < len(sum); t++ {
			pts = append(pts, plotter.XY{X: float64(t), Y: sum[t] / float64(runs)})
			positive = positive && sum[t] > 0
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(drawn)
		p.Add(l)
		name := g.Label
		if len(name) > 50 {
			name = name[:50] + "…"
		}
		keyOf(&key, l.Color, name)
		drawn++
	}
	if drawn == 0 {
		return nil, nil
	}
	if positive { // the terms span decades: the first steps' and the last step's are large
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	f, err := render(p, "bound per timestep", 6*vg.Inch, 3.6*vg.Inch)
	return withLegend(f, err, key)
}

// readBoundTerms reads a run's per-timestep bound in bits/dim (the third column), or nil.
func readBoundTerms(arts *Artifacts, id int64) []float64 {
	return arts.column(id, results.BoundArtifact, 2)
}

// BoundTerms is a run's recorded per-timestep bound L_t in bits/dim, t = 0 (the decoder) first,
// or nil where the run recorded none or it was refused (and said on arts.Warn).
func BoundTerms(arts *Artifacts, id int64) []float64 { return readBoundTerms(arts, id) }
