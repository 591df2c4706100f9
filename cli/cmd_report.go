package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	urfave "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/serve"
)

func reportCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:  "report",
		Usage: "compare recorded runs: settings side by side, mean and 95% CI over seeds, figures",
		Description: "Runs are grouped by spec and settings (every param but the seed). For each group every summary\n" +
			"is shown as mean ± 95% CI half-width (Student t) over its finished runs, with the run count by status;\n" +
			"the best group per metric is marked. --format json prints the runs (--view groups: the groups);\n" +
			"html writes one self-contained page with loss curves, each metric across groups, schedules, and each run\n" +
			"as runner serve's run page draws it (samples, summaries, params, provenance): runner serve's compare page\n" +
			"(with --view runs, its runs page) as a file.\n" +
			"Artifacts are read only from each run's own folder (regular files, bounded in size; pictures must be PNGs);\n" +
			"one that is not is left out with a warning on standard error naming the run, the file and why.\n" +
			"runner report diff A B tests two groups' differences; runner report compare ID ID shows two runs side by side.",
		Flags: append(reportFlags("db", "format", "view", "spec", "status", "where", "last", "out", "metrics"),
			&urfave.Int64SliceFlag{Name: "compare", Usage: "the older form of runner report compare ID ID: --compare 3 --compare 7"},
			&urfave.BoolFlag{Name: "diff", Usage: "the older form of runner report diff A B: --diff A B"}),
		HideHelpCommand: true,
		Subcommands: []*urfave.Command{
			reportSubcommand(&urfave.Command{
				Name:      "diff",
				Usage:     "test every metric's difference B - A between two groups on their shared seeds",
				ArgsUsage: "A B",
				Description: "A and B are group hash prefixes, as runner report --format json --view groups lists them; the runs\n" +
					"--spec, --status, --where and --last select are grouped first, and --metrics keeps only those summaries.",
				Flags: reportFlags("db", "format", "spec", "status", "where", "last", "out", "metrics"),
				Action: func(c *urfave.Context) error {
					return runReportDiff(reportOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
				},
			}),
			reportSubcommand(&urfave.Command{
				Name:      "compare",
				Usage:     "two runs side by side: params that differ, summaries, timings, provenance that differs",
				ArgsUsage: "ID ID",
				Flags:     reportFlags("db", "out"),
				Action: func(c *urfave.Context) error {
					return runReportCompare(reportOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
				},
			}),
		},
		Action: func(c *urfave.Context) error {
			return runReport(reportOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
		},
	})
}

// reportFlags are the named flags of runner report, made afresh for each command that takes
// them (report and its subcommands), in the order given.
func reportFlags(names ...string) []urfave.Flag {
	var flags []urfave.Flag
	for _, name := range names {
		var f urfave.Flag
		switch name {
		case "db":
			f = &urfave.StringSliceFlag{Name: "db", EnvVars: []string{"RUNNER_DB"}, Value: urfave.NewStringSlice(results.DefaultPath),
				Usage: "SQLite results database; repeat it to read several (shards, databases from other machines) as one, without merging them"}
		case "format":
			f = &urfave.StringFlag{Name: "format", Value: "table", Usage: "table, markdown, csv, json or html"}
		case "view":
			f = &urfave.StringFlag{Name: "view", Usage: "groups or runs (default: groups, and runs for json)"}
		case "spec":
			f = &urfave.StringFlag{Name: "spec", Usage: "only runs of this spec name"}
		case "status":
			f = &urfave.StringFlag{Name: "status", Usage: "only runs with this status (running, finished, failed, diverged, interrupted)"}
		case "where":
			f = &urfave.StringSliceFlag{Name: "where", Usage: "only runs whose param key has this value: key=value (repeatable)"}
		case "last":
			f = &urfave.IntFlag{Name: "last", Usage: "only the newest N runs"}
		case "out":
			f = &urfave.StringFlag{Name: "out", Usage: "write the report to this file instead of standard output"}
		case "metrics":
			f = &urfave.StringSliceFlag{Name: "metrics", Usage: "only these summaries, in the group views (repeatable or comma-separated: --metrics fid,is)"}
		default:
			panic("reportFlags: no flag " + name)
		}
		flags = append(flags, f)
	}
	return flags
}

// reportSubcommand makes a report subcommand's flag errors exit with status 2, naming it
// as runner report NAME.
func reportSubcommand(c *urfave.Command) *urfave.Command {
	c.OnUsageError = func(_ *urfave.Context, err error, _ bool) error {
		return usagef("report %s: %v (see runner report %s --help)", c.Name, err, c.Name)
	}
	return c
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

// reportOptionsFrom reads the flags of runner report or of one of its subcommands. A flag
// given before a subcommand's name (runner report --db x diff A B) belongs to report's own
// context, so each flag is read from the nearest command that was given it.
func reportOptionsFrom(c *urfave.Context) reportOptions {
	at := func(name string) *urfave.Context {
		for _, x := range c.Lineage() {
			if x.IsSet(name) {
				return x
			}
		}
		return c
	}
	return reportOptions{dbs: at("db").StringSlice("db"), format: at("format").String("format"), view: at("view").String("view"),
		spec: at("spec").String("spec"), status: at("status").String("status"), where: at("where").StringSlice("where"),
		last: at("last").Int("last"), compare: at("compare").Int64Slice("compare"), diff: at("diff").Bool("diff"),
		out: at("out").String("out"), metrics: at("metrics").StringSlice("metrics")}
}

// runReport checks the options, reads the runs and hands them to package report. It also
// takes the older forms of report's subcommands, --diff A B (args are A and B) and
// --compare ID --compare ID, and says on standard error what their new form is.
func runReport(opts reportOptions, gopts globalOptions, args []string) error {
	if opts.diff {
		fmt.Fprintln(gopts.stderr, "note: runner report --diff A B is now runner report diff A B; the old form still works")
		return runReportDiff(opts, gopts, args)
	}
	if len(opts.compare) > 0 {
		fmt.Fprintln(gopts.stderr, "note: runner report --compare ID --compare ID is now runner report compare ID ID; the old form still works")
		if len(opts.compare) != 2 {
			return usagef("--compare takes exactly two run ids, got %d", len(opts.compare))
		}
		return writeReport(opts, gopts, args, func(w io.Writer, store *results.Store, _ reportInput) error {
			return writeComparison(w, store, opts.compare)
		})
	}
	return writeReport(opts, gopts, args, func(w io.Writer, store *results.Store, in reportInput) error {
		runs, err := store.Runs(opts.filter())
		if err != nil {
			return err
		}
		runs = report.FilterParams(runs, in.conds)
		if in.view == "runs" {
			switch opts.format {
			case "markdown":
				return report.WriteRunsMarkdown(w, runs)
			case "csv":
				return report.WriteRunsCSV(w, runs)
			case "json":
				return report.WriteRunsJSON(w, runs)
			case "html":
				return serve.WriteRunsSnapshot(w, serve.Source{Name: strings.Join(opts.dbs, ", "), Store: store, Merged: len(opts.dbs) > 1}, runs)
			}
			return report.WriteRunsTable(w, runs)
		}
		groups := report.GroupRuns(runs)
		report.KeepMetrics(groups, in.keep)
		switch opts.format {
		case "markdown":
			if err := report.WriteMarkdown(w, groups); err != nil {
				return err
			}
			return writeDuring(w, store, groups, true)
		case "csv":
			return report.WriteCSV(w, groups)
		case "json":
			return report.WriteJSON(w, groups)
		case "html":
			return serve.WriteReport(w, serve.Source{Name: strings.Join(opts.dbs, ", "), Store: store, Merged: len(opts.dbs) > 1}, groups, gopts.stderr)
		}
		if len(runs) == 0 {
			_, err := fmt.Fprintln(w, "no runs recorded")
			return err
		}
		if err := report.WriteTable(w, groups, useColor(w)); err != nil {
			return err
		}
		if err := writeDuring(w, store, groups, false); err != nil {
			return err
		}
		fmt.Fprintln(w)
		return report.WriteRunsTable(w, runs)
	})
}

// writeDuring names the best step of each value the groups' runs evaluated during training.
func writeDuring(w io.Writer, store *results.Store, groups []*report.Group, markdown bool) error {
	curves, err := report.DuringCurves(groups, store)
	if err != nil {
		return err
	}
	return report.WriteDuring(w, curves, markdown)
}

// runReportDiff is runner report diff A B: args are the two group hash prefixes.
func runReportDiff(opts reportOptions, gopts globalOptions, args []string) error {
	opts.diff = true
	return writeReport(opts, gopts, args, func(w io.Writer, store *results.Store, in reportInput) error {
		return writeDiff(w, gopts.stderr, store, opts, args, in.conds, in.keep)
	})
}

// runReportCompare is runner report compare ID ID: args are the two run ids.
func runReportCompare(opts reportOptions, gopts globalOptions, args []string) error {
	if len(args) != 2 {
		return usagef("report compare takes two run ids (runner report compare 3 7), got %d", len(args))
	}
	ids := make([]int64, 2)
	for i, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return usagef("report compare: %q is not a run id (a whole number, as runner report --view runs lists them)", a)
		}
		ids[i] = id
	}
	opts.format, opts.view = "table", "groups"
	return writeReport(opts, gopts, nil, func(w io.Writer, store *results.Store, _ reportInput) error {
		return writeComparison(w, store, ids)
	})
}

// writeComparison writes the two runs ids names side by side.
func writeComparison(w io.Writer, store *results.Store, ids []int64) error {
	var pair [2]*results.Run
	for i, id := range ids {
		var err error
		if pair[i], err = store.Run(id); err != nil {
			return usagef("%v", err)
		}
	}
	return report.WriteComparison(w, pair[0], pair[1])
}

// reportInput is what writeReport makes of the options for the report it writes: the
// --view to show, the --where conditions and the --metrics to keep.
type reportInput struct {
	view  string
	conds map[string]string
	keep  []string
}

// writeReport checks the options shared by every form of runner report, opens the
// databases and calls write with the output (standard output or --out) and the store.
// args are the command's arguments: two group prefixes for a diff, none otherwise.
func writeReport(opts reportOptions, gopts globalOptions, args []string, write func(io.Writer, *results.Store, reportInput) error) error {
	format := opts.format
	if !slices.Contains([]string{"table", "markdown", "csv", "json", "html"}, format) {
		return usagef("--format %q: want table, markdown, csv, json or html", format)
	}
	in := reportInput{view: opts.view, conds: map[string]string{}}
	if in.view == "" {
		in.view = "groups"
		if format == "json" {
			in.view = "runs"
		}
	}
	if in.view != "groups" && in.view != "runs" {
		return usagef("--view %q: want groups or runs", in.view)
	}
	for _, wv := range opts.where {
		k, v, ok := strings.Cut(wv, "=")
		if !ok {
			return usagef("--where %q: want key=value (for example --where schedule.name=cosine)", wv)
		}
		in.conds[k] = v
	}
	for _, m := range opts.metrics {
		in.keep = append(in.keep, strings.Split(m, ",")...)
	}
	temps := watchTempFiles(gopts.stderr)
	defer temps.stop()
	store, err := openReportStore(opts.dbs, gopts.stderr, temps)
	if err != nil {
		return err
	}
	defer store.Close()
	if opts.diff && len(args) != 2 {
		return usagef("report diff takes two group hash prefixes, A and B (see runner report --format json --view groups), got %d", len(args))
	}
	if !opts.diff && len(args) > 0 {
		return usagef("report takes no arguments, got %q (to compare two groups: runner report diff A B)", args[0])
	}
	return writeTo(opts.out, gopts.stdout, temps, func(w io.Writer) error {
		return write(w, store, in)
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
