package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// HTMLInput is what the HTML report shows besides the groups.
type HTMLInput struct {
	Groups []*Group
	Store  *results.Store
	// Warn receives a line for each artifact or figure left out, and why (see Artifacts).
	Warn io.Writer
	// Diff, when set, adds runner report diff of two of the groups, its verdicts in words.
	Diff *DiffInput
}

// DiffInput is the two groups of a diff, B - A.
type DiffInput struct{ A, B *Group }

type figure struct {
	Title string
	PNG   template.URL
	// Caption, shown under the figure, names what it shows in words (a best step).
	Caption []string
	// Legend is the key of the figure's curves, shown under it as text: drawn on the figure,
	// a long label (a schedule with all its parameters) lies across the curves.
	Legend []legendEntry
}

// legendEntry is one curve's colour (CSS) and label.
type legendEntry struct{ Color, Label string }

// keyOf adds a curve of colour c to a legend.
func keyOf(l *[]legendEntry, c color.Color, label string) {
	r, g, b, _ := c.RGBA()
	*l = append(*l, legendEntry{fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, b>>8), label})
}

// withLegend attaches a legend to a rendered figure.
func withLegend(f *figure, err error, l []legendEntry) (*figure, error) {
	if f != nil {
		f.Legend = l
	}
	return f, err
}

// WriteHTML writes one self-contained page: the comparison table (a column per group, a row
// per metric), loss curves per group (mean over seeds with a min-max band), each ranked
// metric across groups (a dot with its 95% CI; none for a single group, whose table says it),
// each metric against NFE where samplers were compared, the bound per timestep, alpha_bar of
// each schedule and a diff of two groups when asked. It shows the groups only: runner report
// --format html and runner serve's compare page are this page (PageTemplate) with its runs
// below it, each drawn by runner serve's run page (serve.WriteReport), so that a run is
// shown one way everywhere.
func WriteHTML(w io.Writer, in HTMLInput) error {
	data, err := HTMLPage(in)
	if err != nil {
		return err
	}
	return pageTemplate.Execute(w, data)
}

// PageTemplate is a copy of the report page's template, for runner serve: it shows
// HTMLPage's data with its own header, style and runs by defining the template's "nav",
// "style" and "runs".
func PageTemplate() *template.Template {
	return template.Must(template.New("report").Parse(pageSource))
}

// HTMLPage is the data of the page WriteHTML writes.
func HTMLPage(in HTMLInput) (map[string]any, error) {
	// html/template escapes for HTML; control characters, which HTML forbids and a terminal
	// showing the file would obey, are written as escapes the same way everywhere else.
	header, rows := transpose(terminalCells(Columns(in.Groups)))
	arts := &Artifacts{Store: in.Store, Warn: in.Warn}
	var figs []figure
	add := func(what string, f *figure, err error) {
		if err != nil && in.Warn != nil {
			fmt.Fprintf(in.Warn, "warning: %s left out of the report: %s\n", TerminalText(what), TerminalText(err.Error()))
		}
		if err == nil && f != nil {
			figs = append(figs, *f)
		}
	}
	f, err := lossFigure(in)
	add("the loss curves", f, err)
	if in.Store != nil {
		curves, err := DuringCurves(in.Groups, in.Store)
		if err == nil {
			var during []figure
			during, err = duringFigures(curves)
			figs = append(figs, during...)
		}
		add("the evaluations during training", nil, err)
	}
	for _, k := range MetricKeys(in.Groups) {
		if _, known := plugins.Ranked(k); !known {
			continue
		}
		f, err := barFigure(in.Groups, k)
		add("the bar chart of "+k, f, err)
	}
	figs = append(figs, nfeFigures(in.Groups)...)
	if in.Store != nil {
		f, err := boundFigure(in.Groups, arts)
		add("the bound per timestep", f, err)
		f, err = scheduleFigure(in, arts)
		add("the schedules", f, err)
	}
	data := map[string]any{"Header": header, "Rows": rows, "Figures": figs, "Best": bestMeaning(in.Groups)}
	if d := in.Diff; d != nil {
		var verdicts [][2]string
		for _, v := range Verdicts(Diff(arts, d.A, d.B)) {
			verdicts = append(verdicts, [2]string{TerminalText(v[0]), TerminalText(v[1])})
		}
		data["Diff"] = map[string]any{"A": TerminalText(d.A.Label), "AHash": d.A.GroupHash, "B": TerminalText(d.B.Label),
			"BHash": d.B.GroupHash, "Verdicts": verdicts}
	}
	return data, nil
}

// DataURL is a PNG as a data: URL, for a page that carries its pictures in itself.
func DataURL(png []byte) template.URL {
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
}

func render(p *plot.Plot, title string, width, height vg.Length) (*figure, error) {
	wt, err := p.WriterTo(width, height, "png")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return &figure{Title: title, PNG: DataURL(buf.Bytes())}, nil
}

func lossFigure(in HTMLInput) (*figure, error) {
	if in.Store == nil {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "training loss (mean over seeds, band: min to max)"
	p.X.Label.Text, p.Y.Label.Text = "step", "loss"
	drawn := 0
	var key []legendEntry
	lo, hi := math.Inf(1), math.Inf(-1)
	for gi, g := range in.Groups {
		byStep := map[int][]float64{}
		for _, r := range g.Runs {
			h, err := in.Store.History(r.ID, "loss")
			if err != nil {
				return nil, err
			}
			for _, pt := range h {
				if !math.IsNaN(pt.Value) {
					byStep[pt.Step] = append(byStep[pt.Step], pt.Value)
					lo, hi = math.Min(lo, pt.Value), math.Max(hi, pt.Value)
				}
			}
		}
		if len(byStep) == 0 {
			continue
		}
		steps := make([]int, 0, len(byStep))
		for s := range byStep {
			steps = append(steps, s)
		}
		sort.Ints(steps)
		mean, lo, hi := make(plotter.XYs, len(steps)), make(plotter.XYs, len(steps)), make(plotter.XYs, len(steps))
		for i, s := range steps {
			v := byStep[s]
			sum, mn, mx := 0.0, math.Inf(1), math.Inf(-1)
			for _, x := range v {
				sum += x
				mn, mx = math.Min(mn, x), math.Max(mx, x)
			}
			mean[i] = plotter.XY{X: float64(s), Y: sum / float64(len(v))}
			lo[i], hi[i] = plotter.XY{X: float64(s), Y: mn}, plotter.XY{X: float64(s), Y: mx}
		}
		c := plotutil.Color(gi)
		band := append(append(plotter.XYs{}, lo...), reversed(hi)...)
		poly, err := plotter.NewPolygon(band)
		if err == nil {
			r, g2, b, _ := c.RGBA()
			poly.Color = color.NRGBA{uint8(r >> 8), uint8(g2 >> 8), uint8(b >> 8), 50}
			poly.LineStyle.Width = 0
			p.Add(poly)
		}
		line, err := plotter.NewLine(mean)
		if err != nil {
			return nil, err
		}
		line.Color = c
		p.Add(line)
		keyOf(&key, c, g.Label)
		drawn++
	}
	if drawn == 0 {
		return nil, nil
	}
	// Losses of different objectives (a T * L_t against an MSE) span orders of magnitude; a
	// log axis keeps every curve readable when all of them are positive.
	if lo > 0 && hi/lo > 100 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Label.Text = "loss (log scale)"
	}
	f, err := render(p, "loss curves", 8*vg.Inch, 4*vg.Inch)
	return withLegend(f, err, key)
}

func reversed(xy plotter.XYs) plotter.XYs {
	out := make(plotter.XYs, len(xy))
	for i := range xy {
		out[i] = xy[len(xy)-1-i]
	}
	return out
}

// barFigure draws one ranked metric across the groups: each group's mean as a dot with its
// 95% CI as whiskers, one group a row with its label beside it (labels of any length fit,
// and a dot does not pretend that the scale starts at zero as a bar would). With fewer than
// two groups there is nothing to compare; the table shows the value and its interval.
func barFigure(groups []*Group, key string) (*figure, error) {
	var pts plotter.XYs
	var errs plotter.XErrors
	var names []string
	for _, g := range groups {
		s := g.Stats[key]
		if s == nil || math.IsNaN(s.Mean) || math.IsInf(s.Mean, 0) {
			continue // the table shows it; a dot cannot
		}
		ci := s.CI95
		if math.IsNaN(ci) {
			ci = 0
		}
		pts = append(pts, plotter.XY{X: s.Mean, Y: float64(len(pts))})
		errs = append(errs, struct{ Low, High float64 }{ci, ci})
		name := g.Label
		if len([]rune(name)) > 40 {
			name = string([]rune(name)[:40]) + "…"
		}
		names = append(names, name)
	}
	if len(pts) < 2 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = key
	p.X.Label.Text = "mean, whiskers: 95% CI"
	eb, err := plotter.NewXErrorBars(struct {
		plotter.XYs
		plotter.XErrors
	}{pts, errs})
	if err != nil {
		return nil, err
	}
	eb.Color = plotutil.Color(0)
	p.Add(eb)
	dots, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, err
	}
	dots.GlyphStyle.Shape = draw.CircleGlyph{}
	dots.GlyphStyle.Color = plotutil.Color(0)
	p.Add(dots)
	p.NominalY(names...)
	p.Y.Padding = vg.Points(12)
	return render(p, key, 5.5*vg.Inch, vg.Length(1.1+0.4*float64(len(pts)))*vg.Inch)
}

// scheduleCurve is one distinct schedule of the report: its label and alpha_bar_t.
type scheduleCurve struct {
	Label    string
	AlphaBar []float64
}

// scheduleCurves lists every distinct schedule the groups' runs recorded (see
// results.ProcessRecord); two schedules are the same when their alpha_bar tables are.
func scheduleCurves(in HTMLInput, arts *Artifacts) []scheduleCurve {
	var out []scheduleCurve
	seen := map[string]bool{}
	for _, g := range in.Groups {
		ab := recordedAlphaBar(arts, g)
		key := fmt.Sprint(ab)
		if ab == nil || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, scheduleCurve{Label: scheduleLabel(g.Params), AlphaBar: ab})
	}
	return out
}

// scheduleFigure draws alpha_bar_t of every distinct schedule.
func scheduleFigure(in HTMLInput, arts *Artifacts) (*figure, error) {
	curves := scheduleCurves(in, arts)
	if len(curves) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "alpha_bar_t of each schedule"
	p.X.Label.Text, p.Y.Label.Text = "t / T", "alpha_bar"
	var key []legendEntry
	for i, c := range curves {
		pts := make(plotter.XYs, len(c.AlphaBar))
		for t, v := range c.AlphaBar {
			pts[t] = plotter.XY{X: float64(t+1) / float64(len(c.AlphaBar)), Y: v}
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		line.Color = plotutil.Color(i)
		p.Add(line)
		keyOf(&key, line.Color, c.Label)
	}
	f, err := render(p, "schedules", 5*vg.Inch, 3.2*vg.Inch)
	return withLegend(f, err, key)
}

// recordedAlphaBar is the alpha_bar table recorded by the first of a group's runs that has
// one (all runs of a group share their schedule).
func recordedAlphaBar(arts *Artifacts, g *Group) []float64 {
	for _, r := range g.Runs {
		rec, ok, err := arts.Store.Process(r.ID)
		if err != nil {
			arts.warn(r.ID, results.ProcessArtifact, err)
		}
		if err == nil && ok {
			return rec.AlphaBar
		}
	}
	return nil
}

// scheduleLabel names a schedule by its plugin and every parameter of it.
func scheduleLabel(params map[string]string) string {
	var keys []string
	for k := range params {
		if strings.HasPrefix(k, "schedule.") && k != "schedule.name" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	label := params["schedule.name"]
	for _, k := range keys {
		label += " " + strings.TrimPrefix(k, "schedule.") + "=" + params[k]
	}
	return label
}

var pageTemplate = template.Must(template.New("report").Parse(pageSource))

// pageSource is the report page's template.
const pageSource = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>ddpm-runner report</title>
<style>
body { font-family: sans-serif; margin: 2em; }
.wide { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; font-size: 0.9em; text-align: left; vertical-align: top; }
th { max-width: 24em; overflow-wrap: anywhere; }
td { max-width: 60em; overflow-wrap: anywhere; }
table.cmp td { white-space: nowrap; }
img { max-width: 100%; height: auto; }
.fig { display: inline-block; margin: 0.5em; vertical-align: top; max-width: 100%; }
figcaption { font-size: 0.85em; max-width: 40em; }
.key { white-space: nowrap; margin-right: 1em; }
form.serve label { margin-right: 0.8em; }
.error { color: #a00; }
</style>{{block "style" .}}{{end}}</head><body>
{{block "nav" .}}{{end}}
<h1>ddpm-runner report</h1>
<h2>Comparison</h2>
<p>mean ± 95% CI half-width (Student t over seeds) of finished runs, (n runs); * {{.Best}}.</p>
<div class="wide"><table class="cmp"><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table></div>
{{with .Diff}}<h2>Diff: B - A on their shared seeds</h2>
<p>A: {{.A}} ({{.AHash}})<br>B: {{.B}} ({{.BHash}})</p>
<table id="diff"><tr><th>metric</th><th>verdict</th></tr>
{{range .Verdicts}}<tr><td>{{index . 0}}</td><td class="verdict">{{index . 1}}</td></tr>{{end}}</table>{{end}}
<h2>Figures</h2>
{{range .Figures}}<figure class="fig"><img src="{{.PNG}}" alt="{{.Title}}">{{if .Legend}}<figcaption>{{range .Legend}}<span class="key"><span style="color: {{.Color}}">&#9644;</span> {{.Label}}</span> {{end}}</figcaption>{{end}}{{range .Caption}}<p>{{.}}</p>{{end}}</figure>{{end}}
{{block "runs" .}}{{end}}
</body></html>
`

// transpose turns the comparison table (a row per group, a column per metric) into a column
// per group and a row per metric: a report has a few groups and many metrics, and a row per
// group would be wider than any page.
func transpose(header []string, rows [][]string) ([]string, [][]string) {
	th := []string{header[0]}
	for _, r := range rows {
		th = append(th, r[0])
	}
	var out [][]string
	for i := 1; i < len(header); i++ {
		row := []string{header[i]}
		for _, r := range rows {
			row = append(row, r[i])
		}
		out = append(out, row)
	}
	return th, out
}
