package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

func sampleCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "sample",
		Usage:     "sample a finished run's final weights with other sampler or evaluation settings, without training",
		ArgsUsage: "ID",
		Description: "Loads the final checkpoint of run ID (its EMA weights when it kept an EMA), draws samples with the\n" +
			"run's [sample] and [eval] settings changed by --set (or by --spec, a small spec with seeds, [sample], [eval] and\n" +
			"a [sweep] over their keys), evaluates the metrics and records each as a new run of kind sample whose env\n" +
			"names the parent (parent_run, parent_uid). Naming another sampler drops the parent sampler's own parameters\n" +
			"(n and clip_denoised stay). The same seed gives the same numbers; `runner rerun --verify` works on it, and\n" +
			"`runner resume` samples an interrupted sample run again, to the numbers of an uninterrupted one. The parent's\n" +
			"checkpoint is read only as regular files inside its own folder, of at most the size its network can take.",
		Flags: []urfave.Flag{
			dbFlag(), setFlag(),
			&urfave.StringFlag{Name: "spec", Usage: "a sample spec: seeds, [sample], [eval] and a [sweep] over their keys"},
			&urfave.StringFlag{Name: "seeds", Usage: "sampling seeds, as 1,2,3 (default: the parent's seed)"},
			&urfave.BoolFlag{Name: "dry-run", Usage: "print the resolved sample trials and write nothing"},
			&urfave.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
			fastMatmulFlag(), maxMemoryFlag(),
		},
		Action: func(c *urfave.Context) error {
			return runSample(c.Context, sampleOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
		},
	})
}

// sampleOptions are runner sample's flags.
type sampleOptions struct {
	db        string
	sets      []string
	spec      string
	seeds     string
	dryRun    bool
	quiet     bool
	matmul    matmulOptions
	maxMemory string
}

func sampleOptionsFrom(c *urfave.Context) sampleOptions {
	return sampleOptions{db: c.String("db"), sets: c.StringSlice("set"), spec: c.String("spec"), seeds: c.String("seeds"),
		dryRun: c.Bool("dry-run"), quiet: c.Bool("quiet"), matmul: matmulOptionsFrom(c), maxMemory: c.String("max-memory")}
}

// runSample samples the finished run that args names with other sampler or evaluation
// settings, recording each sample trial as a new run.
func runSample(ctx context.Context, opts sampleOptions, gopts globalOptions, args []string) error {
	store, parent, err := recordedRun("sample", args, opts.db, gopts.stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	if parent.Env[engine.KindEnvKey] == spec.KindSample {
		return usagef("run %d is itself a sample run; sample its parent, run %s", parent.ID, parent.Env[engine.ParentEnvKey])
	}
	if parent.Status != results.StatusFinished {
		return usagef("run %d is %s: only a finished run's weights can be sampled", parent.ID, parent.Status)
	}
	kernel := opts.matmul.followRecorded(gopts.stderr, parent)
	jobs, err := sampleJobs(opts, parent)
	if err != nil {
		return err
	}
	if opts.dryRun {
		index := make([]int, len(jobs))
		for i := range index {
			index[i] = i
		}
		printTrials(gopts.stdout, jobs, index, len(jobs))
		return nil
	}
	ctx, stop := signalContext(ctx)
	defer stop()
	failed := 0
	for i, job := range jobs {
		fmt.Fprintf(gopts.stderr, "sample %s of run %d: %s seed %d%s\n", trialLabel(i, len(jobs)), parent.ID,
			report.TerminalText(job.Trial.Section("sample").Name), job.Trial.Seed, report.TerminalText(sweepLabel(job.Trial)))
		out := engine.SampleFrom(ctx, job, parent, engine.Options{Store: store, Progress: gopts.progress(opts.quiet), Phase: tracePhases(gopts.stderr), Kernel: kernel})
		if out.RunID == 0 {
			var refused *engine.RefusedError
			if errors.As(out.Err, &refused) {
				return usagef("%v", refused)
			}
			return urfave.Exit(fmt.Sprintf("could not start sample %s: %v", trialLabel(i, len(jobs)), out.Err), exitRunFail)
		}
		fmt.Fprintf(gopts.stderr, "run %d: %s%s\n", out.RunID, out.Status, errSuffix(out.Err))
		printSummaries(gopts.stdout, out.Summaries)
		if out.Status == results.StatusInterrupted {
			return urfave.Exit(fmt.Sprintf("interrupted: sample run %d stopped; continue it with `runner resume %d`", out.RunID, out.RunID), exitRunFail)
		}
		if out.Status != results.StatusFinished {
			failed++
		}
	}
	if failed > 0 {
		return urfave.Exit(fmt.Sprintf("%d of %d sample runs did not finish", failed, len(jobs)), exitRunFail)
	}
	return nil
}

// sampleJobs resolves the sample trials of a `runner sample` call and prepares their jobs.
func sampleJobs(opts sampleOptions, parent *results.Run) ([]*engine.Job, error) {
	sets := opts.sets
	if s := opts.seeds; s != "" {
		sets = append(slices.Clip(sets), "seeds=["+strings.TrimSpace(s)+"]")
	}
	var data []byte
	file := opts.spec
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, usagef("--spec %s: %v", file, err)
		}
		data = b
	}
	trials, err := spec.SampleTrials(parent.Resolved, file, data, sets)
	if err != nil {
		return nil, usagef("%v", err)
	}
	var jobs []*engine.Job
	for _, t := range trials {
		t.File = parent.SpecFile
		if err := backend.Check(t.Backend); err != nil {
			return nil, usagef("run %d: %v", parent.ID, err)
		}
		job, err := engine.Prepare(t)
		if err != nil {
			return nil, usagef("run %d: %v", parent.ID, err)
		}
		jobs = append(jobs, job)
	}
	if err := checkMemory(jobs, opts.maxMemory); err != nil {
		return nil, err
	}
	return jobs, nil
}
