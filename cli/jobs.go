package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/launch"
	"github.com/ddpm-runner/ddpm-runner/report"
)

// runInParallel runs the selected trials (jobs, with index their 0-based indices among all
// total resolved trials of specs) in up to --jobs child processes of this runner at once:
// see launch.RunJobs, which decides with resumeTarget what --resume makes of each trial.
func runInParallel(opts runOptions, gopts globalOptions, specs []string, jobs []*engine.Job, index []int, total int) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--jobs: finding this runner binary: %w", err)
	}
	errW := &launch.LineWriter{W: gopts.stderr}
	phase := phaseMarker(errW)
	store, err := openForRuns(opts.db, errW, false)
	if err != nil {
		return err
	}
	defer store.Close()
	trials := make([]launch.Trial, len(jobs))
	for i, job := range jobs {
		t := job.Trial
		trials[i] = launch.Trial{Index: index[i], Label: trialLabel(index[i], total), Job: job,
			Title: fmt.Sprintf("%s seed %d%s", report.TerminalText(t.Spec), t.Seed, report.TerminalText(sweepLabel(t)))}
	}
	err = launch.RunJobs(store, jobsOptions(opts, specs, self, phase), trials, errW)
	var je *launch.JobsError
	if errors.As(err, &je) {
		return urfave.Exit(je.Msg, exitRunFail)
	}
	return err
}

// jobsOptions are the options of launch.RunJobs for runner run's options: the children get
// the parent's flags (but their own, launch.ChildOwnFlags) and its --set, with the seeds of
// --add-seeds.
func jobsOptions(opts runOptions, specs []string, self string, phase func(string)) launch.JobsOptions {
	flags := append([]string(nil), opts.childFlags...)
	for _, v := range opts.sets {
		flags = append(flags, "--set="+v)
	}
	return launch.JobsOptions{Self: self, DB: opts.db, Jobs: opts.jobs, Resume: opts.resume,
		ChildFlags: flags, Specs: specs, ResumeTarget: resumeTarget, Phase: phase}
}

// phaseMarker is tracePhases that may always be called.
func phaseMarker(w io.Writer) func(string) {
	if f := tracePhases(w); f != nil {
		return f
	}
	return func(string) {}
}
