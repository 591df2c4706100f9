package figures

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ScatterPNG draws the first two coordinates of samples over those of data and writes a
// PNG: the picture a person checks first for a 2-D model. Non-finite samples (a diverging
// chain) are left out and counted in the legend.
func ScatterPNG(path, title string, samples, data []float32, dim int) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = "x0", "x1"
	add := func(x []float32, c color.Color, label string) error {
		var pts plotter.XYs
		dropped := 0
		for i := 0; i+1 < len(x); i += dim {
			px, py := float64(x[i]), float64(x[i+1])
			if math.IsNaN(px) || math.IsInf(px, 0) || math.IsNaN(py) || math.IsInf(py, 0) {
				dropped++
				continue
			}
			pts = append(pts, plotter.XY{X: px, Y: py})
		}
		if dropped > 0 {
			label = fmt.Sprintf("%s (%d non-finite not shown)", label, dropped)
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		s.GlyphStyle.Color = c
		s.GlyphStyle.Radius = vg.Points(1.2)
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(s)
		p.Legend.Add(label, s)
		return nil
	}
	if err := add(data, color.RGBA{R: 160, G: 160, B: 160, A: 255}, "held-out data"); err != nil {
		return err
	}
	if err := add(samples, color.RGBA{R: 200, G: 30, B: 30, A: 255}, "samples"); err != nil {
		return err
	}
	p.Legend.Top = true
	return p.Save(5*vg.Inch, 5*vg.Inch, path)
}
