package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	urfave "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
)

func reportCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:  "report",
		Usage: "compare recorded runs: settings side by side, mean and 95% CI over seeds, figures",
		Description: "Runs are grouped by spec and settings (every param but the seed). For each group every summary\n" +
			"is shown as mean ± 95% CI half-width (Student t) over its finished runs, with the run count by status;\n" +
			"the best group per metric is marked. --format json prints the runs (--view groups: the groups);\n" +
			"html writes one self-contained page with loss curves, metric bars, schedules, samples and provenance.",
		Flags: []urfave.Flag{
			dbFlag(),
			&urfave.StringFlag{Name: "format", Value: "table", Usage: "table, markdown, csv, json or html"},
			&urfave.StringFlag{Name: "view", Usage: "groups or runs (default: groups, and runs for json)"},
			&urfave.StringFlag{Name: "spec", Usage: "only runs of this spec name"},
			&urfave.StringFlag{Name: "status", Usage: "only runs with this status (running, finished, failed, diverged, interrupted)"},
			&urfave.StringSliceFlag{Name: "where", Usage: "only runs whose param key has this value: key=value (repeatable)"},
			&urfave.IntFlag{Name: "last", Usage: "only the newest N runs"},
			&urfave.Int64SliceFlag{Name: "compare", Usage: "two run ids to show side by side: --compare 3 --compare 7"},
			&urfave.StringFlag{Name: "out", Usage: "write the report to this file instead of standard output"},
			&urfave.StringSliceFlag{Name: "metrics", Usage: "only these summaries, in the group views (repeatable or comma-separated: --metrics fid,is)"},
		},
		Action: func(c *urfave.Context) (err error) {
			format := c.String("format")
			if !containsStr([]string{"table", "markdown", "csv", "json", "html"}, format) {
				return usagef("--format %q: want table, markdown, csv, json or html", format)
			}
			view := c.String("view")
			if view == "" {
				view = "groups"
				if format == "json" {
					view = "runs"
				}
			}
			if view != "groups" && view != "runs" {
				return usagef("--view %q: want groups or runs", view)
			}
			store, err := openForReading(c.String("db"), c.App.ErrWriter)
			if err != nil {
				return err
			}
			defer store.Close()
			w := c.App.Writer
			if path := c.String("out"); path != "" {
				// Written to a temporary file and renamed, so a failed report leaves no half page.
				tmp, cerr := os.CreateTemp(filepath.Dir(path), ".report-*")
				if cerr != nil {
					return cerr
				}
				defer os.Remove(tmp.Name())
				defer tmp.Close()
				w = tmp
				defer func() {
					if err == nil {
						if err = tmp.Close(); err == nil {
							err = os.Rename(tmp.Name(), path)
						}
					}
				}()
			}
			if ids := c.Int64Slice("compare"); len(ids) > 0 {
				if len(ids) != 2 {
					return usagef("--compare takes exactly two run ids, got %d", len(ids))
				}
				return compareRuns(w, store, ids[0], ids[1])
			}
			runs, err := store.Runs(results.Filter{Spec: c.String("spec"), Status: c.String("status"), Last: c.Int("last")})
			if err != nil {
				return err
			}
			runs, err = filterWhere(runs, c.StringSlice("where"))
			if err != nil {
				return err
			}
			if view == "runs" {
				if format == "json" {
					return writeRunsJSON(w, runs)
				}
				writeRunsTable(w, runs)
				return nil
			}
			groups := report.GroupRuns(runs)
			var keep []string
			for _, m := range c.StringSlice("metrics") {
				keep = append(keep, strings.Split(m, ",")...)
			}
			report.KeepMetrics(groups, keep)
			switch format {
			case "markdown":
				return report.WriteMarkdown(w, groups)
			case "csv":
				return report.WriteCSV(w, groups)
			case "json":
				return report.WriteJSON(w, groups)
			case "html":
				return report.WriteHTML(w, report.HTMLInput{Groups: groups, Store: store, Schedule: alphaBarOf})
			}
			if len(runs) == 0 {
				fmt.Fprintln(w, "no runs recorded")
				return nil
			}
			if err := report.WriteTable(w, groups, useColor(w)); err != nil {
				return err
			}
			fmt.Fprintln(w)
			writeRunsTable(w, runs)
			return nil
		},
	})
}

// useColor: colour only on a terminal, and never when NO_COLOR is set (no-color.org).
func useColor(w io.Writer) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// filterWhere keeps the runs whose params match every key=value.
func filterWhere(runs []*results.Run, where []string) ([]*results.Run, error) {
	if len(where) == 0 {
		return runs, nil
	}
	conds := map[string]string{}
	for _, wv := range where {
		k, v, ok := strings.Cut(wv, "=")
		if !ok {
			return nil, usagef("--where %q: want key=value (for example --where schedule.name=cosine)", wv)
		}
		conds[k] = v
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
	return out, nil
}

// alphaBarOf recomputes a group's schedule from its params, for the schedule figure.
func alphaBarOf(params map[string]string) ([]float64, error) {
	raw := map[string]any{}
	name := params["schedule.name"]
	T, err := strconv.Atoi(params["schedule.T"])
	if err != nil {
		return nil, err
	}
	for k, v := range params {
		if key, ok := strings.CutPrefix(k, "schedule."); ok && key != "name" && key != "T" {
			raw[key] = parseScalar(v)
		}
	}
	s, err := plugins.Build(plugins.KindSchedule, name, raw)
	if err != nil {
		return nil, err
	}
	betas, err := s.(plugins.Schedule).Betas(T)
	if err != nil {
		return nil, err
	}
	p, err := diffusion.NewProcess(betas)
	if err != nil {
		return nil, err
	}
	return p.AlphaBar, nil
}

// compareRuns prints two runs side by side: the params that differ, every summary and
// timing, and the provenance that differs.
func compareRuns(w io.Writer, store *results.Store, a, b int64) error {
	ra, err := store.Run(a)
	if err != nil {
		return usagef("%v", err)
	}
	rb, err := store.Run(b)
	if err != nil {
		return usagef("%v", err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\trun %d\trun %d\n", a, b)
	esc := report.TerminalText
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
		for _, k := range sortedSet(keys) {
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

// writeRunsJSON writes the runs as a JSON array; non-finite numbers become null.
func writeRunsJSON(w io.Writer, runs []*results.Run) error {
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

func writeRunsTable(w io.Writer, runs []*results.Run) {
	if len(runs) == 0 {
		fmt.Fprintln(w, "no runs recorded")
		return
	}
	cols := append([]string{}, keyParams...)
	for _, k := range report.DifferingParams(report.GroupRuns(runs)) {
		if !containsStr(cols, k) && k != "seed" {
			cols = append(cols, k)
		}
	}
	sumKeys := map[string]bool{}
	for _, r := range runs {
		for k := range r.Summaries {
			sumKeys[k] = true
		}
	}
	sums := sortedSet(sumKeys)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := append([]string{"id", "spec", "seed", "status", "started"}, cols...)
	for i, k := range sums {
		sums[i] = report.TerminalText(k)
	}
	fmt.Fprintln(tw, strings.Join(append(header, sums...), "\t"))
	for _, r := range runs {
		cells := []string{fmt.Sprint(r.ID), report.TerminalText(r.Spec), fmt.Sprint(r.Seed), report.TerminalText(r.Status), shortTime(r.Started)}
		for _, k := range cols {
			cells = append(cells, report.TerminalText(orDash(r.Params[k])))
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
	tw.Flush()
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func containsStr(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
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
