package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
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

// WriteRunsTable prints one line per run: its settings that matter and every summary.
func WriteRunsTable(w io.Writer, runs []*results.Run) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintln(w, "no runs recorded")
		return err
	}
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
	sums := slices.Sorted(maps.Keys(sumKeys))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"id", "spec", "seed", "status", "started"}
	for _, k := range cols {
		header = append(header, TerminalText(k))
	}
	for _, k := range sums {
		header = append(header, TerminalText(k))
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range runs {
		cells := []string{fmt.Sprint(r.ID), TerminalText(r.Spec), fmt.Sprint(r.Seed), TerminalText(r.Status), shortTime(r.Started)}
		for _, k := range cols {
			cells = append(cells, TerminalText(orDash(r.Params[k])))
		}
		for _, k := range sums {
			v, ok := r.Summaries[k]
			if !ok {
				cells = append(cells, "-")
			} else {
				cells = append(cells, fmt.Sprintf("%.5g", v))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
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
