package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Cell formats a statistic as "mean ± ci95 (n)", with a trailing * for the best group.
func Cell(s *Stat) string {
	if s == nil || s.N == 0 {
		return "-"
	}
	out := fmt.Sprintf("%.4g", s.Mean)
	if !math.IsNaN(s.CI95) {
		out += fmt.Sprintf(" ± %.2g", s.CI95)
	}
	out += fmt.Sprintf(" (%d)", s.N)
	if s.Best {
		out += " *"
	}
	return out
}

func statusCell(g *Group) string {
	var parts []string
	for _, st := range []string{"finished", "failed", "diverged", "interrupted", "running"} {
		if n := g.Status[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	return strings.Join(parts, ", ")
}

// Columns returns the header and rows of the comparison table: every summary, or with
// rankedOnly only those with a direction (the at-a-glance terminal view).
func Columns(groups []*Group, rankedOnly ...bool) (header []string, rows [][]string) {
	keys := MetricKeys(groups)
	if len(rankedOnly) > 0 && rankedOnly[0] {
		var ranked []string
		for _, k := range keys {
			if _, known := plugins.Ranked(k); known {
				ranked = append(ranked, k)
			}
		}
		keys = ranked
	}
	header = append([]string{"group", "spec", "runs"}, keys...)
	for _, g := range groups {
		row := []string{g.Label, g.Spec, statusCell(g)}
		for _, k := range keys {
			row = append(row, Cell(g.Stats[k]))
		}
		rows = append(rows, row)
	}
	return header, rows
}

// WriteTable writes an aligned text table; with color, the best cells are green (ANSI).
func WriteTable(w io.Writer, groups []*Group, color bool) error {
	header, rows := Columns(groups, true)
	header, rows = terminalCells(header, rows)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// Escape codes take no room on screen but tabwriter counts them: every metric cell gets
	// codes of the same length (green, or the default colour) so the columns stay aligned.
	paint := func(cells []string) []string {
		if !color {
			return cells
		}
		out := append([]string{}, cells...)
		for i := 3; i < len(out); i++ {
			code := "\x1b[39m"
			if strings.HasSuffix(out[i], " *") {
				code = "\x1b[32m"
			}
			out[i] = code + out[i] + "\x1b[0m"
		}
		return out
	}
	fmt.Fprintln(tw, strings.Join(paint(header), "\t"))
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(paint(row), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nmean ± 95% CI half-width (Student t over seeds) of finished runs (n); * "+bestMeaning(groups)+";")
	fmt.Fprintln(w, "ranked metrics only: --format csv, json or html for every summary")
	return nil
}

// WriteMarkdown writes the comparison as a Markdown table.
func WriteMarkdown(w io.Writer, groups []*Group) error {
	header, rows := Columns(groups)
	for i, h := range header {
		header[i] = MarkdownText(h)
	}
	fmt.Fprintln(w, "| "+strings.Join(header, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(header)))
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, c := range row {
			if i >= 3 && strings.HasSuffix(c, " *") {
				c = "**" + MarkdownText(strings.TrimSuffix(c, " *")) + "**"
			} else {
				c = MarkdownText(c)
			}
			cells[i] = c
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
	fmt.Fprintln(w, "\nmean ± 95% CI half-width over seeds (n runs); bold: "+bestMeaning(groups)+".")
	return nil
}

// bestMeaning says what a best-of mark means in a table of these groups (see markBest).
func bestMeaning(groups []*Group) string {
	if len(groups) > 2 {
		return "best, and different from the runner-up (paired t over shared seeds, else Welch; Holm-corrected over the table's metrics, p < 0.05)"
	}
	return "the better mean of the two (runner report diff tests the difference)"
}

// WriteCSV writes one row per group and metric: every number on its own.
func WriteCSV(w io.Writer, groups []*Group) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"group", "spec", "group_hash", "metric", "n", "mean", "std", "ci95", "best"})
	num := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', 10, 64)
	}
	for _, g := range groups {
		for _, k := range MetricKeys([]*Group{g}) {
			s := g.Stats[k]
			_ = cw.Write([]string{CSVText(g.Label), CSVText(g.Spec), CSVText(g.GroupHash), CSVText(k), strconv.Itoa(s.N), num(s.Mean), num(s.Std), num(s.CI95), strconv.FormatBool(s.Best)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the groups as a JSON array; non-finite numbers (JSON has none) become null.
func WriteJSON(w io.Writer, groups []*Group) error {
	type jsonStat struct {
		N      int        `json:"n"`
		Mean   *float64   `json:"mean"`
		Std    *float64   `json:"std"`
		CI95   *float64   `json:"ci95"`
		Best   bool       `json:"best"`
		Values []*float64 `json:"values"`
	}
	ptr := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	ptrs := func(vs []float64) []*float64 {
		out := make([]*float64, len(vs))
		for i, v := range vs {
			out[i] = ptr(v)
		}
		return out
	}
	type jsonGroup struct {
		*Group
		Stats map[string]jsonStat `json:"stats"`
	}
	out := make([]jsonGroup, len(groups))
	for i, g := range groups {
		st := map[string]jsonStat{}
		for k, s := range g.Stats {
			st[k] = jsonStat{N: s.N, Mean: ptr(s.Mean), Std: ptr(s.Std), CI95: ptr(s.CI95), Best: s.Best, Values: ptrs(s.Values)}
		}
		out[i] = jsonGroup{Group: g, Stats: st}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// terminalCells applies TerminalText to every cell of a table.
func terminalCells(header []string, rows [][]string) ([]string, [][]string) {
	esc := TerminalText
	h := make([]string, len(header))
	for i, c := range header {
		h[i] = esc(c)
	}
	out := make([][]string, len(rows))
	for i, row := range rows {
		out[i] = make([]string, len(row))
		for j, c := range row {
			out[i][j] = esc(c)
		}
	}
	return h, out
}
