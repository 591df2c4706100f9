package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// FilterParams keeps the runs whose params have every given key=value.
func FilterParams(runs []*results.Run, conds map[string]string) []*results.Run {
	if len(conds) == 0 {
		return runs
	}
	var out []*results.Run
	for _, r := range runs {
		keep := true
		for k, v := range conds {
			if r.Params[k] != v {
				keep = false
			}
		}
		if keep {
			out = append(out, r)
		}
	}
	return out
}

// WriteComparison prints two runs side by side: the params that differ, every summary and
// timing, and the provenance that differs.
func WriteComparison(w io.Writer, ra, rb *results.Run) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\trun %d\trun %d\n", ra.ID, rb.ID)
	esc := TerminalText
	fmt.Fprintf(tw, "spec\t%s\t%s\n", esc(ra.Spec), esc(rb.Spec))
	fmt.Fprintf(tw, "status\t%s\t%s\n", esc(ra.Status), esc(rb.Status))
	section := func(title string, ka, kb map[string]string, onlyDiff bool) {
		keys := map[string]bool{}
		for k := range ka {
			keys[k] = true
		}
		for k := range kb {
			keys[k] = true
		}
		fmt.Fprintf(tw, "%s\t\t\n", title)
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if onlyDiff && ka[k] == kb[k] {
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", esc(k), esc(orDash(ka[k])), esc(orDash(kb[k])))
		}
	}
	section("params that differ", ra.Params, rb.Params, true)
	fmtMap := func(m map[string]float64) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = fmt.Sprintf("%.6g", v)
		}
		return out
	}
	section("summaries", fmtMap(ra.Summaries), fmtMap(rb.Summaries), false)
	section("timings (s)", fmtMap(ra.Timings), fmtMap(rb.Timings), false)
	section("provenance that differs", ra.Env, rb.Env, true)
	return tw.Flush()
}

type jsonRun struct {
	*results.Run
	Summaries map[string]*float64 `json:"summaries"`
	Timings   map[string]*float64 `json:"timings"`
}

// WriteRunsJSON writes the runs as a JSON array; non-finite numbers become null.
func WriteRunsJSON(w io.Writer, runs []*results.Run) error {
	out := make([]jsonRun, len(runs))
	for i, r := range runs {
		out[i] = jsonRun{Run: r, Summaries: nullable(r.Summaries), Timings: nullable(r.Timings)}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func nullable(m map[string]float64) map[string]*float64 {
	out := make(map[string]*float64, len(m))
	for k, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			out[k] = nil
		} else {
			out[k] = &v
		}
	}
	return out
}

// keyParams are always shown; other params are shown when they differ between the runs.
var keyParams = []string{"data.name", "schedule.name", "predictor.name", "predictor.variance", "loss.name"}

// runsTable is the runs view: one row per run with its id, spec, seed, status and start,
// the settings that matter (keyParams, and every param that differs between the runs) and
// every summary, written by cell (ok false: the run has no such summary). Cells are the
// database's text, not yet escaped for where they go; the columns from sums on are numbers.
func runsTable(runs []*results.Run, cell func(v float64, ok bool) string) (header []string, rows [][]string, sums int) {
	cols := append([]string{}, keyParams...)
	for _, k := range DifferingParams(GroupRuns(runs)) {
		if !slices.Contains(cols, k) && k != "seed" {
			cols = append(cols, k)
		}
	}
	sumKeys := map[string]bool{}
	for _, r := range runs {
		for k := range r.Summaries {
			sumKeys[k] = true
		}
	}
	keys := slices.Sorted(maps.Keys(sumKeys))
	header = append(append([]string{"id", "spec", "seed", "status", "started"}, cols...), keys...)
	for _, r := range runs {
		row := []string{fmt.Sprint(r.ID), r.Spec, fmt.Sprint(r.Seed), r.Status, shortTime(r.Started)}
		for _, k := range cols {
			row = append(row, orDash(r.Params[k]))
		}
		for _, k := range keys {
			v, ok := r.Summaries[k]
			row = append(row, cell(v, ok))
		}
		rows = append(rows, row)
	}
	return header, rows, len(header) - len(keys)
}

// shortNumber is a summary as the tables show it (5 significant digits; "-" for none).
func shortNumber(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.5g", v)
}

// WriteRunsTable prints one line per run: its settings that matter and every summary.
func WriteRunsTable(w io.Writer, runs []*results.Run) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintln(w, "no runs recorded")
		return err
	}
	header, rows, _ := runsTable(runs, shortNumber)
	header, rows = terminalCells(header, rows)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// WriteRunsMarkdown writes the runs view as a Markdown table.
func WriteRunsMarkdown(w io.Writer, runs []*results.Run) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintln(w, "no runs recorded")
		return err
	}
	header, rows, _ := runsTable(runs, shortNumber)
	line := func(cells []string) {
		esc := make([]string, len(cells))
		for i, c := range cells {
			esc[i] = MarkdownText(c)
		}
		fmt.Fprintln(w, "| "+strings.Join(esc, " | ")+" |")
	}
	line(header)
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(header)))
	for _, row := range rows {
		line(row)
	}
	return nil
}

// WriteRunsCSV writes the runs view as CSV: one row per run, every number in full (a run
// without a summary, or with a NaN, has an empty cell). Text is defused as CSVText does;
// numbers are left as they are (a negative number is not a formula).
func WriteRunsCSV(w io.Writer, runs []*results.Run) error {
	header, rows, sums := runsTable(runs, func(v float64, ok bool) string {
		if !ok || math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	})
	cw := csv.NewWriter(w)
	for r, row := range append([][]string{header}, rows...) {
		esc := make([]string, len(row))
		for i, c := range row {
			if number := r > 0 && (i == 0 || i == 2 || i >= sums); !number {
				c = CSVText(c)
			}
			esc[i] = c
		}
		_ = cw.Write(esc)
	}
	cw.Flush()
	return cw.Error()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortTime(ts string) string {
	if len(ts) >= 19 {
		return strings.Replace(ts[:19], "T", " ", 1)
	}
	return ts
}
