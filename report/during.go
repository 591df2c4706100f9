package report

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// DuringCurve is one group's history of a value evaluated during training ([eval] every):
// its mean over the group's runs at each step, and the step where that mean is
// best (lower or higher as the value's metric declares; a tie keeps the earlier step).
type DuringCurve struct {
	Group    string
	Key      string
	Lower    bool
	Steps    []int
	Mean     []float64
	BestStep int // 0 when no step has a finite mean
	Best     float64
}

// DuringCurves reads the histories of ranked metric values of the groups' runs: those
// their runs evaluated during training (the loss and its parts are declared by no metric
// and are not among them). Curves are in key order, then group order.
func DuringCurves(groups []*Group, store *results.Store) ([]DuringCurve, error) {
	byKey := map[string][]DuringCurve{}
	for _, g := range groups {
		sums := map[string]map[int][]float64{}
		for _, r := range g.Runs {
			keys, err := store.HistoryKeys(r.ID)
			if err != nil {
				return nil, err
			}
			for _, k := range keys {
				if _, ranked := plugins.Ranked(k); !ranked || isRunReport(k) {
					continue
				}
				h, err := store.History(r.ID, k)
				if err != nil {
					return nil, err
				}
				if sums[k] == nil {
					sums[k] = map[int][]float64{}
				}
				for _, p := range h {
					sums[k][p.Step] = append(sums[k][p.Step], p.Value)
				}
			}
		}
		for k, bySteps := range sums {
			lower, _ := plugins.Ranked(k)
			c := DuringCurve{Group: g.Label, Key: k, Lower: lower}
			for _, s := range slices.Sorted(maps.Keys(bySteps)) {
				var sum float64
				for _, v := range bySteps[s] {
					sum += v
				}
				m := sum / float64(len(bySteps[s]))
				c.Steps, c.Mean = append(c.Steps, s), append(c.Mean, m)
				if math.IsNaN(m) || math.IsInf(m, 0) {
					continue
				}
				if c.BestStep == 0 || (lower && m < c.Best) || (!lower && m > c.Best) {
					c.BestStep, c.Best = s, m
				}
			}
			byKey[k] = append(byKey[k], c)
		}
	}
	var out []DuringCurve
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		out = append(out, byKey[k]...)
	}
	return out, nil
}

// isRunReport reports whether key is a value the engine records for every run (final_loss,
// ...), not a metric's.
func isRunReport(key string) bool {
	return slices.ContainsFunc(plugins.RunReports, func(r plugins.Report) bool { return r.Key == key })
}

// bestLine says where a curve is best, in words.
func (c DuringCurve) bestLine() string {
	if c.BestStep == 0 {
		return fmt.Sprintf("%s during training, %s: no finite value", c.Key, c.Group)
	}
	return fmt.Sprintf("%s during training, %s: best at step %d (%s)", c.Key, c.Group, c.BestStep,
		strconv.FormatFloat(c.Best, 'g', 6, 64))
}

// WriteDuring writes a line per curve naming its best step (text for the terminal, or
// Markdown list items); nothing when no run evaluated during training.
func WriteDuring(w io.Writer, curves []DuringCurve, markdown bool) error {
	if len(curves) == 0 {
		return nil
	}
	if markdown {
		fmt.Fprintln(w, "\nEvaluated during training (mean over seeds):")
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "\nevaluated during training (mean over seeds):")
	}
	for _, c := range curves {
		line := c.bestLine()
		if markdown {
			line = "- " + MarkdownText(line)
		} else {
			line = "  " + TerminalText(line)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// duringFigures draws each value evaluated during training against step, a line per group
// with its best step marked and named in the legend and the caption.
func duringFigures(curves []DuringCurve) ([]figure, error) {
	var keys []string
	for _, c := range curves {
		if !slices.Contains(keys, c.Key) {
			keys = append(keys, c.Key)
		}
	}
	var figs []figure
	for _, k := range keys {
		p := plot.New()
		dir := "higher is better"
		var caption []string
		gi := 0
		for _, c := range curves {
			if c.Key != k {
				continue
			}
			if c.Lower {
				dir = "lower is better"
			}
			var xy plotter.XYs
			for i, s := range c.Steps {
				if !math.IsNaN(c.Mean[i]) && !math.IsInf(c.Mean[i], 0) {
					xy = append(xy, plotter.XY{X: float64(s), Y: c.Mean[i]})
				}
			}
			caption = append(caption, TerminalText(c.bestLine()))
			if len(xy) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(xy)
			if err != nil {
				return nil, err
			}
			line.Color, points.Color = plotutil.Color(gi), plotutil.Color(gi)
			p.Add(line, points)
			label := c.Group
			if len(label) > 50 {
				label = label[:50] + "…"
			}
			if c.BestStep > 0 {
				mark, err := plotter.NewScatter(plotter.XYs{{X: float64(c.BestStep), Y: c.Best}})
				if err != nil {
					return nil, err
				}
				mark.GlyphStyle = draw.GlyphStyle{Color: plotutil.Color(gi), Radius: vg.Points(6), Shape: draw.RingGlyph{}}
				p.Add(mark)
				label += fmt.Sprintf(" (best: step %d)", c.BestStep)
			}
			p.Legend.Add(label, line)
			gi++
		}
		if gi == 0 {
			continue
		}
		p.Title.Text = fmt.Sprintf("%s during training (mean over seeds; %s; ring: best step)", k, dir)
		p.X.Label.Text, p.Y.Label.Text = "step", k
		p.Legend.Top = true
		f, err := render(p, k+" during training", 8*vg.Inch, 4*vg.Inch)
		if err != nil {
			return nil, err
		}
		f.Caption = caption
		figs = append(figs, *f)
	}
	return figs, nil
}
