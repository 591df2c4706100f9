package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/launch"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

func runCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "run",
		Usage:     "train the trials of one or more experiment specs and record them",
		ArgsUsage: "SPEC...",
		Description: "Every SPEC is read and validated first (with --set overrides, defaults, sweep and seeds);\n" +
			"nothing is written unless all are valid. Then each trial trains in turn and is recorded in the\n" +
			"database. A diverged or failed trial does not stop the next one; SIGINT/SIGTERM/SIGHUP checkpoints the\n" +
			"current trial, records it as interrupted and stops.",
		Flags: runFlags(),
		Action: func(c *urfave.Context) error {
			return runRun(c.Context, runOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
		},
	})
}

// runOptions are runner run's flags.
type runOptions struct {
	db        string
	sets      []string // --set, and with --add-seeds the seeds it adds
	backend   string
	dryRun    bool
	trial     string
	resume    bool // --resume, or implied by --add-seeds
	addSeeds  int
	jobs      int
	quiet     bool
	matmul    matmulOptions
	maxMemory string
	// childFlags are the flags a --jobs child is given as the parent has them: every flag
	// set on the command line or in the environment but the child's own (launch.ChildOwnFlags).
	childFlags []string
}

func runOptionsFrom(c *urfave.Context) runOptions {
	opts := runOptions{
		db: c.String("db"), sets: c.StringSlice("set"), backend: c.String("backend"),
		dryRun: c.Bool("dry-run"), trial: c.String("trial"), resume: c.Bool("resume"),
		addSeeds: c.Int("add-seeds"), jobs: c.Int("jobs"), quiet: c.Bool("quiet"),
		matmul: matmulOptionsFrom(c), maxMemory: c.String("max-memory"),
	}
	// Walking the command's own flags, rather than listing them, passes a flag added later
	// on to the children too.
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if launch.ChildOwnFlags[name] || !c.IsSet(name) {
			continue
		}
		switch f.(type) {
		case *urfave.StringSliceFlag:
			for _, v := range c.StringSlice(name) {
				opts.childFlags = append(opts.childFlags, "--"+name+"="+v)
			}
		case *urfave.BoolFlag:
			opts.childFlags = append(opts.childFlags, "--"+name+"="+strconv.FormatBool(c.Bool(name)))
		case *urfave.IntFlag:
			opts.childFlags = append(opts.childFlags, "--"+name+"="+strconv.Itoa(c.Int(name)))
		case *urfave.StringFlag:
			opts.childFlags = append(opts.childFlags, "--"+name+"="+c.String(name))
		default:
			// A flag of another type needs its own case here: a test runs every run flag
			// through this function.
			panic(fmt.Sprintf("runner run --jobs: cannot pass --%s (%T) on to a child", name, f))
		}
	}
	return opts
}

// runRun resolves and checks the trials of the specs, then prints them (--dry-run), runs
// them in child processes (--jobs) or runs them one after another.
func runRun(ctx context.Context, opts runOptions, gopts globalOptions, specs []string) error {
	opts, err := checkRunArgs(opts, specs)
	if err != nil {
		return err
	}
	kernel, err := opts.matmul.kernelFor(opts.backend)
	if err != nil {
		return err
	}
	jobs, err := loadJobs(specs, opts.sets, opts.backend, dryRunWarnings(opts, gopts))
	if err != nil {
		return err
	}
	total := len(jobs)
	jobs, index, err := chooseTrials(jobs, opts.trial)
	if err != nil {
		return err
	}
	if err := checkMemory(jobs, opts.maxMemory); err != nil {
		if !opts.dryRun {
			return err
		}
		// A dry run is how a spec is inspected before it goes to a bigger machine: it
		// prints the trials, and says that this one could not run them.
		fmt.Fprintf(gopts.stderr, "warning: %v\n", err)
	}
	warnEMA(gopts.stderr, jobs)
	if opts.dryRun {
		printTrials(gopts.stdout, jobs, index, total)
		return nil
	}
	if n := opts.jobs; n < 1 {
		return usagef("--jobs %d: want 1 or more", n)
	} else if n > 1 && len(jobs) > 1 {
		return runInParallel(opts, gopts, specs, jobs, index, total)
	}
	return runSequential(ctx, opts, gopts, jobs, index, total, kernel)
}

// chooseTrials is the trials that --trial sel selects of all resolved jobs (all of them
// without sel), with each one's index among all.
func chooseTrials(jobs []*engine.Job, sel string) ([]*engine.Job, []int, error) {
	total := len(jobs)
	index := make([]int, total) // each job's index among all resolved trials
	for i := range index {
		index[i] = i
	}
	if sel != "" {
		var err error
		if index, err = selectTrials(sel, total); err != nil {
			return nil, nil, err
		}
		chosen := make([]*engine.Job, len(index))
		for i, k := range index {
			chosen[i] = jobs[k]
		}
		jobs = chosen
	}
	return jobs, index, nil
}

// runSequential runs the jobs (index[i] is jobs[i]'s index among the total resolved) one
// after another in this process. A run that does not finish does not stop the next; a
// signal stops the sweep once the current run has checkpointed or ended. The runs compute on
// the go backend's kernel.
func runSequential(ctx context.Context, opts runOptions, gopts globalOptions, jobs []*engine.Job, index []int, total int, kernel backend.Kernel) error {
	store, err := openForRuns(opts.db, gopts.stderr, false)
	if err != nil {
		return err
	}
	defer store.Close()

	ctx, stop := signal.NotifyContext(ctx, stopSignals()...)
	defer stop()
	ctx, untie := launch.TieToParent(ctx)
	defer untie()
	progress := gopts.progress(opts.quiet)
	// Trials that a runner run --jobs holds in a scratch folder it has not merged yet
	// are running elsewhere, as far as --resume is concerned.
	busy := launch.ScratchTrials(store)
	failed := 0
	for i, job := range jobs {
		t := job.Trial
		fmt.Fprintf(gopts.stderr, "trial %s: %s seed %d%s\n", trialLabel(index[i], total), report.TerminalText(t.Spec), t.Seed, report.TerminalText(sweepLabel(t)))
		eopts := engine.Options{Store: store, Progress: progress, Phase: tracePhases(gopts.stderr), Kernel: kernel}
		out, skipped, err := runOrResume(ctx, opts.resume, gopts.stderr, store, busy, job, eopts)
		if err != nil {
			return err
		}
		if skipped {
			continue
		}
		if out.RunID == 0 {
			// Nothing was recorded: the store refused the run before it began.
			return urfave.Exit(fmt.Sprintf("could not start trial %s: %v", trialLabel(index[i], total), out.Err), exitRunFail)
		}
		fmt.Fprintf(gopts.stderr, "run %d: %s%s\n", out.RunID, out.Status, errSuffix(out.Err))
		if out.Status == results.StatusFinished {
			printSummaries(gopts.stdout, out.Summaries)
			fmt.Fprintf(gopts.stdout, "  artifacts: %s\n", filepath.Join(store.ArtifactRoot(), strconv.FormatInt(out.RunID, 10)))
		}
		if out.Status != results.StatusFinished {
			failed++
		}
		// What is printed follows what was recorded: a signal that came after the
		// run finished stops the sweep but does not make the run interrupted.
		if out.Status == results.StatusInterrupted {
			return urfave.Exit(fmt.Sprintf("interrupted: run %d checkpointed; continue it with `runner resume %d`", out.RunID, out.RunID), exitRunFail)
		}
		if ctx.Err() != nil {
			return urfave.Exit(fmt.Sprintf("stopped by signal after run %d ended (%s); %d trial(s) not started", out.RunID, out.Status, len(jobs)-i-1), exitRunFail)
		}
	}
	if failed > 0 {
		return urfave.Exit(fmt.Sprintf("%d of %d trials did not finish", failed, len(jobs)), exitRunFail)
	}
	return nil
}

// runFlags are runner run's flags.
func runFlags() []urfave.Flag {
	return []urfave.Flag{
		dbFlag(),
		setFlag(),
		backendFlag(),
		&urfave.BoolFlag{Name: "dry-run", Usage: "print the resolved trials, each with its index, and write nothing"},
		&urfave.StringFlag{Name: "trial", Usage: "run only these trials, by the 1-based index --dry-run prints: 3, 2-5 or 1,4,7-9"},
		&urfave.BoolFlag{Name: "resume", Usage: "for re-runnable tasks (Slurm, Kubernetes): skip a trial this database already holds as finished or diverged, continue an interrupted or crashed run of it from its checkpoint, run it afresh otherwise"},
		&urfave.IntFlag{Name: "add-seeds", Usage: "append N seeds after the spec's largest and run as with --resume: the trials the database already holds as finished are not run again"},
		&urfave.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: 1, Usage: "run this many trials at once, each in its own process with its share of the cores and its own shard, merged into --db at the end (also on SIGINT/SIGTERM, which the children get too); --resume continues interrupted runs in --db"},
		&urfave.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
		fastMatmulFlag(),
		maxMemoryFlag(),
	}
}

// setFlag is --set, shared by the commands that resolve specs.
func setFlag() urfave.Flag {
	return &urfave.StringSliceFlag{Name: "set", Usage: "override a spec key: section.key=value (repeatable)"}
}

// backendFlag is --backend, shared by the commands that resolve specs.
func backendFlag() urfave.Flag {
	return &urfave.StringFlag{Name: "backend", Usage: "go, go:stock (GoMLX's own kernels), xla, xla:cpu or xla:cuda (overrides $GOMLX_BACKEND and the spec)"}
}

// warnEMA points out an EMA that averages over more steps than the run has: its weights,
// used for sampling and evaluation, would be mostly the untrained ones.
func warnEMA(w io.Writer, jobs []*engine.Job) {
	seen := map[string]bool{}
	for _, j := range jobs {
		tr := j.Trial.Settings.Train
		decay, steps := tr.EMA[0], tr.Steps
		if decay <= 0 || float64(steps) >= 3/(1-decay) {
			continue
		}
		msg := fmt.Sprintf("warning: %s: train.ema = %g averages over about %.0f steps but train.steps = %d; "+
			"samples and metrics will use barely trained weights (lower ema, or set it to 0)", j.Trial.File, decay, 1/(1-decay), steps)
		if !seen[msg] {
			fmt.Fprintln(w, msg)
			seen[msg] = true
		}
	}
}

// printSummaries prints a finished run's summary values, one per line, sorted.
func printSummaries(w io.Writer, s map[string]float64) {
	keys := slices.Sorted(maps.Keys(s))
	for _, k := range keys {
		fmt.Fprintf(w, "  %-28s %.6g\n", k, s[k])
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// dryRunWarnings is where a dry run warns of a backend this machine lacks (it still
// resolves the trials); nil for a real run, for which that is an error.
func dryRunWarnings(opts runOptions, gopts globalOptions) io.Writer {
	if opts.dryRun {
		return gopts.stderr
	}
	return nil
}

// loadJobs reads and validates every spec and builds every trial's plugins before anything
// runs, applying the backend override, so that one bad file stops the command before it
// writes anything. A backend that cannot run here is an error, unless warn is given: then
// (for --dry-run, or a sweep submitted to machines that have what this one lacks) it is one
// line to warn per backend, and the trials load without the data files a dataset defers
// (engine.Inspect): those jobs are for showing or sending, not for running here.
func loadJobs(files, sets []string, backendFlag string, warn io.Writer) ([]*engine.Job, error) {
	var all []*engine.Job
	cache := engine.DataCache{}
	warned := map[string]bool{}
	for _, f := range files {
		trials, err := spec.Load(f, sets)
		if err != nil {
			return nil, err
		}
		for _, t := range trials {
			// The kernel of go:stock is not part of the trial (nor of its hash): the caller
			// passes it to the engine (kernelFor).
			choice, err := backend.Resolve(backendFlag, t.Backend)
			if err != nil {
				return nil, usagef("%s: %v", f, err)
			}
			t.Backend = choice.Config
			if err := backend.Check(t.Backend); err != nil {
				if warn == nil || strings.HasPrefix(err.Error(), "unknown backend") {
					return nil, usagef("%s: %v", f, err)
				}
				if !warned[t.Backend] {
					warned[t.Backend] = true
					fmt.Fprintf(warn, "warning: %s: %v\n", f, err)
				}
			}
			prepare := engine.PrepareShared
			if warn != nil {
				prepare = engine.Inspect
			}
			job, err := prepare(t, cache)
			if err != nil {
				return nil, usagef("%s: %v", f, err)
			}
			all = append(all, job)
		}
	}
	return all, nil
}

func sweepLabel(t *spec.Trial) string {
	if len(t.Sweep) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(t.Sweep))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%s", k, spec.FormatValue(t.Sweep[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// printTrials shows what --dry-run resolved: every trial (index[i] is jobs[i]'s index among
// the total resolved) with its hash and settings.
func printTrials(w io.Writer, jobs []*engine.Job, index []int, total int) {
	for i, job := range jobs {
		t := job.Trial
		fmt.Fprintf(w, "# trial %s  spec=%s  seed=%d  hash=%s  group=%s%s\n", trialLabel(index[i], total), report.TerminalText(t.Spec), t.Seed, t.Hash(), t.GroupHash(), report.TerminalText(sweepLabel(t)))
		e := engine.EstimateMemory(job)
		partial := ""
		if !e.NetworkKnown {
			partial = "; the network does not say its size, so only data and buffers are counted"
		}
		fmt.Fprintf(w, "# estimated peak memory %s (%s%s)\n", engine.FormatBytes(e.Bytes), e.Phase, partial)
		if e.NetworkKnown {
			fmt.Fprintf(w, "# parameters %s\n", groupDigits(e.Params))
		}
		fmt.Fprintf(w, "backend = %q\n", t.Backend)
		for _, sec := range spec.SectionOrder() {
			c := t.Sections[sec]
			fmt.Fprintf(w, "[%s]\n", sec)
			if c.Name != "" {
				fmt.Fprintf(w, "name = %q\n", c.Name)
			}
			keys := slices.Sorted(maps.Keys(c.Params))
			for _, k := range keys {
				v := c.Params[k]
				if s, ok := v.(string); ok {
					fmt.Fprintf(w, "%s = %q\n", k, s)
				} else {
					fmt.Fprintf(w, "%s = %s\n", k, spec.FormatValue(v))
				}
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d trial(s); nothing was written (--dry-run)\n", len(jobs))
}

// groupDigits writes n with commas between groups of three digits: 35,746,307.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// checkRunArgs checks that run has specs and applies --add-seeds to opts.
func checkRunArgs(opts runOptions, specs []string) (runOptions, error) {
	if len(specs) == 0 {
		return opts, usagef("run needs at least one SPEC file (for example experiments/linear_beta.toml)")
	}
	if n := opts.addSeeds; n != 0 {
		return addSeeds(opts, specs, n)
	}
	return opts, nil
}

// addSeeds makes runner run SPEC... --add-seeds N run the specs' seeds and N more (the
// largest seed + 1, + 2, ...), skipping the trials already finished: the options it returns
// have one more --set, of the seeds, and --resume, for the rest of the command and for the
// processes --jobs starts.
func addSeeds(opts runOptions, specs []string, n int) (runOptions, error) {
	if n < 0 {
		return opts, usagef("--add-seeds %d: want a positive number of seeds", n)
	}
	seen := map[int]bool{}
	largest := -1
	for _, f := range specs {
		trials, err := spec.Load(f, opts.sets)
		if err != nil {
			return opts, err
		}
		for _, t := range trials {
			seen[t.Seed] = true
			largest = max(largest, t.Seed)
		}
	}
	for i := 1; i <= n; i++ {
		seen[largest+i] = true
	}
	var seeds []string
	for _, s := range slices.Sorted(maps.Keys(seen)) {
		seeds = append(seeds, strconv.Itoa(s))
	}
	opts.sets = append(slices.Clip(opts.sets), "seeds=["+strings.Join(seeds, ", ")+"]")
	opts.resume = true
	return opts, nil
}
