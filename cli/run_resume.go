package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// runOrResume runs a job, or with --resume continues or skips the run of it the database
// already has (see resumeTarget); skipped says the trial needed no work.
func runOrResume(ctx context.Context, resume bool, errW io.Writer, store *results.Store, busy map[string]string, job *engine.Job, opts engine.Options) (out engine.Outcome, skipped bool, err error) {
	if !resume {
		return engine.Run(ctx, job, opts), false, nil
	}
	prior, skip, err := resumeTarget(errW, store, busy, job)
	if err != nil || skip {
		return out, skip, err
	}
	if prior == nil {
		return engine.Run(ctx, job, opts), false, nil
	}
	fmt.Fprintf(errW, "run %d: %s; resuming from its checkpoint\n", prior.ID, prior.Status)
	out = engine.Resume(ctx, job, opts, prior.ID)
	var refused *engine.RefusedError
	if errors.As(out.Err, &refused) {
		return out, false, urfave.Exit(fmt.Sprintf("could not resume run %d: %v", prior.ID, refused), exitRunFail)
	}
	return out, false, nil
}

// resumeTarget is what --resume makes of a job, given the runs the database holds (see
// priorRun): skip when its run finished or diverged (said on w), else the run to continue
// from its checkpoint, or nil to run it afresh. A run of it that a live process still owns
// is an error, and so is a trial that busy (see launch.ScratchTrials) says a runner run --jobs
// holds unmerged: a second run of the trial must not start beside it. Both the sequential
// path and --jobs decide with it.
func resumeTarget(w io.Writer, store *results.Store, busy map[string]string, job *engine.Job) (prior *results.Run, skip bool, err error) {
	if where, ok := busy[job.Trial.Hash()]; ok {
		return nil, false, urfave.Exit(fmt.Sprintf("this trial is held by %s; not starting another", where), exitRunFail)
	}
	prior, err = priorRun(store, job)
	if err != nil || prior == nil {
		return nil, false, err
	}
	switch prior.Status {
	case results.StatusFinished, results.StatusDiverged:
		fmt.Fprintf(w, "run %d: already %s; skipped\n", prior.ID, prior.Status)
		return prior, true, nil
	case results.StatusRunning:
		// Still owned by a live process (a dead owner's run was recorded as what it is when
		// the database was opened): a second task of the same trial must not start another.
		return nil, false, urfave.Exit(fmt.Sprintf("run %d of this trial is running (pid %d on %s); not starting another", prior.ID, prior.Pid, prior.Host), exitRunFail)
	}
	return prior, false, nil
}

// priorRun is the run --resume continues or skips for a job: its newest finished or
// diverged run if any (a trial is deterministic, so a diverged one would diverge again),
// else one still running, else its newest interrupted one; nil when there is none of these
// and it should run afresh.
func priorRun(store *results.Store, job *engine.Job) (*results.Run, error) {
	runs, err := store.Runs(results.Filter{Hash: job.Trial.Hash()})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", store.Path, err)
	}
	var resumable *results.Run
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		if r.Spec != job.Trial.Spec {
			continue
		}
		switch r.Status {
		case results.StatusFinished, results.StatusDiverged:
			return r, nil
		case results.StatusInterrupted, results.StatusRunning:
			if resumable == nil || r.Status == results.StatusRunning {
				resumable = r
			}
		}
	}
	return resumable, nil
}
