package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/results"
)

func reportCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "report",
		Usage: "list recorded runs with their key settings and summaries",
		Flags: []cli.Flag{
			dbFlag(),
			&cli.StringFlag{Name: "format", Value: "table", Usage: "table or json"},
			&cli.StringFlag{Name: "spec", Usage: "only runs of this spec name"},
			&cli.StringFlag{Name: "status", Usage: "only runs with this status (running, finished, failed, diverged, interrupted)"},
			&cli.IntFlag{Name: "last", Usage: "only the newest N runs"},
		},
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format != "table" && format != "json" {
				return usagef("--format %q: want table or json", format)
			}
			store, err := openExisting(c.String("db"))
			if err != nil {
				return err
			}
			defer store.Close()
			runs, err := store.Runs(results.Filter{Spec: c.String("spec"), Status: c.String("status"), Last: c.Int("last")})
			if err != nil {
				return err
			}
			if format == "json" {
				return writeRunsJSON(c.App.Writer, runs)
			}
			writeRunsTable(c.App.Writer, runs)
			return nil
		},
	})
}

// openExisting opens a database that must already exist: a report of a mistyped path
// should say so, not create an empty database there.
func openExisting(path string) (*results.Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, usagef("no results database at %s (run `runner run SPEC` first, or give --db)", path)
	}
	s, err := results.Open(path)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return s, nil
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
	for _, k := range differingParams(runs) {
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
	fmt.Fprintln(tw, strings.Join(append(header, sums...), "\t"))
	for _, r := range runs {
		cells := []string{fmt.Sprint(r.ID), r.Spec, fmt.Sprint(r.Seed), r.Status, shortTime(r.Started)}
		for _, k := range cols {
			cells = append(cells, orDash(r.Params[k]))
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

// differingParams lists the params whose value is not the same in every run.
func differingParams(runs []*results.Run) []string {
	vals := map[string]map[string]bool{}
	for _, r := range runs {
		for k, v := range r.Params {
			if vals[k] == nil {
				vals[k] = map[string]bool{}
			}
			vals[k][v] = true
		}
	}
	var out []string
	for k, vs := range vals {
		if len(vs) > 1 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
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
