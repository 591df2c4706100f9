package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	urfave "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
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
			"html writes one self-contained page with loss curves, metric bars, schedules, samples and provenance.\n" +
			"Artifacts are read only from each run's own folder (regular files, bounded in size; pictures must be PNGs);\n" +
			"one that is not is left out with a warning on standard error naming the run, the file and why.",
		Flags: []urfave.Flag{
			&urfave.StringSliceFlag{Name: "db", EnvVars: []string{"RUNNER_DB"}, Value: urfave.NewStringSlice(results.DefaultPath),
				Usage: "SQLite results database; repeat it to read several (shards, databases from other machines) as one, without merging them"},
			&urfave.StringFlag{Name: "format", Value: "table", Usage: "table, markdown, csv, json or html"},
			&urfave.StringFlag{Name: "view", Usage: "groups or runs (default: groups, and runs for json)"},
			&urfave.StringFlag{Name: "spec", Usage: "only runs of this spec name"},
			&urfave.StringFlag{Name: "status", Usage: "only runs with this status (running, finished, failed, diverged, interrupted)"},
			&urfave.StringSliceFlag{Name: "where", Usage: "only runs whose param key has this value: key=value (repeatable)"},
			&urfave.IntFlag{Name: "last", Usage: "only the newest N runs"},
			&urfave.Int64SliceFlag{Name: "compare", Usage: "two run ids to show side by side: --compare 3 --compare 7"},
			&urfave.BoolFlag{Name: "diff", Usage: "runner report --diff A B: test every metric's difference B - A between two groups (group hash prefixes, as --format json --view groups lists them) on their shared seeds"},
			&urfave.StringFlag{Name: "out", Usage: "write the report to this file instead of standard output"},
			&urfave.StringSliceFlag{Name: "metrics", Usage: "only these summaries, in the group views (repeatable or comma-separated: --metrics fid,is)"},
		},
		Action: func(c *urfave.Context) error {
			return runReport(reportOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
		},
	})
}

// reportOptions are runner report's flags.
type reportOptions struct {
	dbs     []string
	format  string
	view    string
	spec    string
	status  string
	where   []string
	last    int
	compare []int64
	diff    bool
	out     string
	metrics []string
}

func reportOptionsFrom(c *urfave.Context) reportOptions {
	return reportOptions{dbs: c.StringSlice("db"), format: c.String("format"), view: c.String("view"), spec: c.String("spec"),
		status: c.String("status"), where: c.StringSlice("where"), last: c.Int("last"), compare: c.Int64Slice("compare"),
		diff: c.Bool("diff"), out: c.String("out"), metrics: c.StringSlice("metrics")}
}

// runReport checks the options, reads the runs and hands them to package report; args are
// the two groups of --diff.
func runReport(opts reportOptions, gopts globalOptions, args []string) error {
	format := opts.format
	if !slices.Contains([]string{"table", "markdown", "csv", "json", "html"}, format) {
		return usagef("--format %q: want table, markdown, csv, json or html", format)
	}
	view := opts.view
	if view == "" {
		view = "groups"
		if format == "json" {
			view = "runs"
		}
	}
	if view != "groups" && view != "runs" {
		return usagef("--view %q: want groups or runs", view)
	}
	ids := opts.compare
	if len(ids) > 0 && len(ids) != 2 {
		return usagef("--compare takes exactly two run ids, got %d", len(ids))
	}
	conds := map[string]string{}
	for _, wv := range opts.where {
		k, v, ok := strings.Cut(wv, "=")
		if !ok {
			return usagef("--where %q: want key=value (for example --where schedule.name=cosine)", wv)
		}
		conds[k] = v
	}
	var keep []string
	for _, m := range opts.metrics {
		keep = append(keep, strings.Split(m, ",")...)
	}
	temps := watchTempFiles(gopts.stderr)
	defer temps.stop()
	store, err := openReportStore(opts.dbs, gopts.stderr, temps)
	if err != nil {
		return err
	}
	defer store.Close()
	if opts.diff && len(args) != 2 {
		return usagef("--diff takes two group hash prefixes, A and B (see runner report --format json --view groups), got %d", len(args))
	}
	if !opts.diff && len(args) > 0 {
		return usagef("report takes no arguments, got %q (to compare two groups: runner report --diff A B)", args[0])
	}
	return writeTo(opts.out, gopts.stdout, temps, func(w io.Writer) error {
		if opts.diff {
			return writeDiff(w, gopts.stderr, store, opts, args, conds, keep)
		}
		if len(ids) == 2 {
			var pair [2]*results.Run
			for i, id := range ids {
				if pair[i], err = store.Run(id); err != nil {
					return usagef("%v", err)
				}
			}
			return report.WriteComparison(w, pair[0], pair[1])
		}
		runs, err := store.Runs(opts.filter())
		if err != nil {
			return err
		}
		runs = report.FilterParams(runs, conds)
		if view == "runs" {
			switch format {
			case "markdown":
				return report.WriteRunsMarkdown(w, runs)
			case "csv":
				return report.WriteRunsCSV(w, runs)
			case "json":
				return report.WriteRunsJSON(w, runs)
			case "html":
				return report.WriteRunsHTML(w, runs)
			}
			return report.WriteRunsTable(w, runs)
		}
		groups := report.GroupRuns(runs)
		report.KeepMetrics(groups, keep)
		switch format {
		case "markdown":
			return report.WriteMarkdown(w, groups)
		case "csv":
			return report.WriteCSV(w, groups)
		case "json":
			return report.WriteJSON(w, groups)
		case "html":
			return report.WriteHTML(w, report.HTMLInput{Groups: groups, Store: store, Warn: gopts.stderr})
		}
		if len(runs) == 0 {
			_, err := fmt.Fprintln(w, "no runs recorded")
			return err
		}
		if err := report.WriteTable(w, groups, useColor(w)); err != nil {
			return err
		}
		fmt.Fprintln(w)
		return report.WriteRunsTable(w, runs)
	})
}

// filter is the runs --spec, --status and --last select.
func (o reportOptions) filter() results.Filter {
	return results.Filter{Spec: o.spec, Status: o.status, Last: o.last}
}

// openReportStore opens the one --db for reading or, given several, merges their ended runs
// into a scratch database (artifacts linked where they are, not copied) that the report
// reads; its run ids are its own, and each run's env says where it came from (merged_from,
// merged_shard_run). The scratch database is removed when the store is closed, or by a
// signal before (see tempFiles).
func openReportStore(dbs []string, errW io.Writer, temps *tempFiles) (*results.Store, error) {
	if len(dbs) == 1 {
		return openForReading(dbs[0], errW)
	}
	for _, p := range dbs {
		if _, err := os.Stat(p); err != nil {
			return nil, usagef("no results database at %s", p)
		}
	}
	scratch, err := temps.make(func() (string, error) { return os.MkdirTemp("", "ddpm-report-") })
	if err != nil {
		return nil, err
	}
	remove := func() {
		os.RemoveAll(scratch)
		temps.forget(scratch)
	}
	s, err := results.Open(filepath.Join(scratch, "combined.db"))
	if err != nil {
		remove()
		return nil, err
	}
	s.OnClose(remove)
	for _, p := range dbs {
		res, err := s.Merge(p, results.MergeOptions{LinkArtifacts: true})
		if err != nil {
			s.Close()
			return nil, usagef("%v", err)
		}
		for _, sk := range res.Skipped {
			fmt.Fprintf(errW, "note: %s: %s; not in the report\n", report.TerminalText(p), report.TerminalText(sk))
		}
	}
	// Every run here came in through Merge just now, which wrote where it came from: its
	// artifacts are read from its folder there, and only there.
	s.UseLinkedRunDirs()
	return s, nil
}

// writeTo calls write with stdout, or, for a path, with a temporary file beside it that
// replaces the file only when write succeeds: a failed or interrupted report leaves no half
// page (temps removes the temporary file on a signal).
func writeTo(path string, stdout io.Writer, temps *tempFiles, write func(io.Writer) error) (err error) {
	if path == "" {
		return write(stdout)
	}
	var tmp *atomicfile.File
	if _, err := temps.make(func() (string, error) {
		f, err := atomicfile.Create(path)
		if err != nil {
			return "", err
		}
		tmp = f
		return f.TempName(), nil
	}); err != nil {
		return err
	}
	defer temps.forget(tmp.TempName())
	defer tmp.Abort()
	if err := write(tmp); err != nil {
		return err
	}
	holdForTest("report-out")
	// A report is a document to share like any other.
	return tmp.Commit(0o644)
}

// useColor: colour only on a terminal, and never when NO_COLOR is set (no-color.org).
func useColor(w io.Writer) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
