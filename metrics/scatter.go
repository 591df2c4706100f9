package metrics

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ScatterPNG draws the first two coordinates of samples over those of data and writes a
// PNG: the picture a person checks first for a 2-D model.
func ScatterPNG(path, title string, samples, data []float32, dim int) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = "x0", "x1"
	add := func(x []float32, c color.Color, label string) error {
		pts := make(plotter.XYs, len(x)/dim)
		for i := range pts {
			pts[i].X, pts[i].Y = float64(x[i*dim]), float64(x[i*dim+1])
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
