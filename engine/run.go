package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gomlx/gomlx/backends"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// Options configures Run.
type Options struct {
	Store *results.Store
	// Progress receives the progress bar or lines; nil or io.Discard for none.
	Progress io.Writer
	// MetricBatch is how many metric rows go in one transaction; default 256.
	MetricBatch int
	// Phase, if set, is told each phase of the run as it starts: "train", "checkpoint",
	// "copy" (a sample run copying its parent's checkpoint), "sample", "metric.NAME",
	// "record"; and "" once the run's end is recorded, when no phase is current. The
	// fault-injection tests aim their signals with it.
	Phase func(name string)
	// HeartbeatEvery overrides HeartbeatEvery (tests).
	HeartbeatEvery time.Duration
	// Env is recorded in a new run's env when the run is created (rerun's note of what it
	// reruns), so that a process killed at any later point leaves it there.
	Env map[string]string
	// InitialiseOnGo initialises the weights on a separate go backend even when the run is
	// on the go backend, as runs on every other backend are (tests of that path).
	InitialiseOnGo bool
	// Kernel is the go backend's kernel (backend.DefaultKernel: the environment's); with the
	// trial's backend it makes the backend.Choice the run is created on. A rerun or resume
	// passes the one its run recorded (backend.RecordedKernel).
	Kernel backend.Kernel
}

// Outcome is how a run ended.
type Outcome struct {
	RunID     int64
	Status    string
	Err       error
	Summaries map[string]float64
}

// Run trains, samples and evaluates one prepared trial and records it all. It never panics:
// a GoMLX panic becomes a failed run with the message. Artifacts go to runs/<id>/ in the
// store's artifact folder (see results.Store.ArtifactRoot), which must belong to the store.
func Run(ctx context.Context, job *Job, opt Options) Outcome {
	if job.Trial.Kind == spec.KindImported {
		return Outcome{Status: results.StatusFailed, Err: &RefusedError{Msg: "an imported run has no training to run: sample it with `runner sample ID`"}}
	}
	r, failed := startRun(job, withDefaults(opt), nil)
	if r == nil {
		return failed
	}
	return r.finish(r.execute(ctx))
}

// startRun records a new run of job, with extraEnv beside its provenance, and gives it a
// fresh, locked artifact folder. If that fails, the runner is nil and the outcome says why
// (recorded as a failed run once the run exists).
func startRun(job *Job, opt Options, extraEnv map[string]string) (*runner, Outcome) {
	root, err := opt.Store.ClaimArtifactRoot()
	if err != nil {
		return nil, Outcome{Status: results.StatusFailed, Err: err}
	}
	t := job.Trial
	env := results.Provenance()
	env["backend"] = t.Backend
	maps.Copy(env, opt.Env)
	maps.Copy(env, extraEnv)
	id, err := opt.Store.CreateRun(results.NewRun{
		Spec: t.Spec, SpecFile: t.File, Hash: t.Hash(), GroupHash: t.GroupHash(), Resolved: t.Canonical(),
		Seed: t.Seed, Backend: t.Backend, Params: t.Params(), Env: env,
	})
	if err != nil {
		return nil, Outcome{Status: results.StatusFailed, Err: err}
	}
	r := newRunner(job, opt, id, root)
	if err := freshDir(r.dir); err != nil {
		return nil, r.finish(results.StatusFailed, err)
	}
	if r.lock, err = lockRun(r.dir); err != nil {
		return nil, r.finish(results.StatusFailed, fmt.Errorf("run %d: %w", id, err))
	}
	return r, Outcome{}
}

// Resume continues a recorded run (interrupted, crashed while running, or failed after a
// checkpoint) from its last checkpoint, in place: same run id, the loss history after the
// checkpoint's step replaced. With the data and noise of a step a pure function of (seed,
// step) and the checkpoint holding weights, Adam moments, EMA, global step and RNG state, the
// finished history equals that of a run never interrupted, bit for bit.
//
// A sample run (runner sample; job is its recorded sample trial) has no training to
// continue: it samples again, in place, from its parent's final checkpoint (read as
// SampleFrom reads it), from the start; with its samples a pure function of the parent's
// weights and its seed, it ends with the numbers of an uninterrupted sample run.
//
// Taking over the run is exclusive: of two resumes of one run, one proceeds and the other is
// refused. A refusal (Err is a *RefusedError) changes nothing in the record.
func Resume(ctx context.Context, job *Job, opt Options, id int64) Outcome {
	opt = withDefaults(opt)
	if job.Trial.Kind == spec.KindImported {
		return Outcome{RunID: id, Err: &RefusedError{Msg: fmt.Sprintf("run %d was imported: it has nothing to resume", id)}}
	}
	root, err := opt.Store.ClaimArtifactRoot()
	if err != nil {
		return Outcome{RunID: id, Err: &RefusedError{Msg: err.Error()}}
	}
	var sample checkpointFiles
	if job.Trial.Kind == spec.KindSample {
		// Checked before the run is claimed, so that a refusal changes nothing.
		rec, err := opt.Store.Run(id)
		if err != nil {
			return Outcome{RunID: id, Err: &RefusedError{Msg: err.Error()}}
		}
		parent, err := ParentOf(opt.Store, rec)
		if err != nil {
			return Outcome{RunID: id, Status: rec.Status, Err: &RefusedError{Msg: err.Error()}}
		}
		if sample, err = sampleSource(job, parent, opt); err != nil {
			return Outcome{RunID: id, Status: rec.Status, Err: &RefusedError{Msg: fmt.Sprintf("run %d samples run %d: %v", id, parent.ID, err)}}
		}
	}
	r := newRunner(job, opt, id, root)
	r.resume = true
	if r.lock, err = claim(opt.Store, id, r.dir, job.Trial.Kind == spec.KindSample); err != nil {
		var refused *RefusedError
		if errors.As(err, &refused) {
			st := ""
			if rec, e := opt.Store.Run(id); e == nil {
				st = rec.Status
			}
			return Outcome{RunID: id, Status: st, Err: err}
		}
		return Outcome{RunID: id, Err: &RefusedError{Msg: err.Error()}}
	}
	if job.Trial.Kind == spec.KindSample {
		// A sample run keeps no state of its own: what the stopped process recorded
		// (summaries, artifacts) is replaced key by key.
		return r.finish(r.executeSample(ctx, sample))
	}
	return r.finish(r.execute(ctx))
}

func withDefaults(opt Options) Options {
	if opt.MetricBatch <= 0 {
		opt.MetricBatch = 256
	}
	if opt.HeartbeatEvery <= 0 {
		opt.HeartbeatEvery = HeartbeatEvery
	}
	if opt.Phase == nil {
		opt.Phase = func(string) {}
	}
	return opt
}

func newRunner(job *Job, opt Options, id int64, root string) *runner {
	return &runner{job: job, opt: opt, id: id, dir: filepath.Join(root, strconv.FormatInt(id, 10)),
		timings: map[string]float64{}, summaries: map[string]float64{}}
}

// finish records how the run ended, then lets go of the run. When the end cannot be
// recorded (a full disk), the run stays "running" in the store with no live owner, which
// Reconcile recognises at the next open; the outcome says so.
func (r *runner) finish(status string, runErr error) Outcome {
	defer r.lock.release()
	if r.stopBeat != nil {
		r.stopBeat()
	}
	r.opt.Phase("record")
	id, opt := r.id, r.opt
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	var recErr error
	if err := opt.Store.SetTimings(id, r.timings); err != nil {
		recErr = err
	}
	if err := opt.Store.SetSummaries(id, r.summaries); err != nil && recErr == nil {
		recErr = err
	}
	if recErr != nil && status == results.StatusFinished {
		// Finished without its summaries would be a false record.
		status, msg = results.StatusFailed, "recording results: "+recErr.Error()
	}
	if err := opt.Store.EndRun(id, status, msg); err != nil {
		recErr = err
		status = results.StatusFailed
	}
	if recErr != nil {
		if runErr == nil {
			runErr = fmt.Errorf("could not record the run's results: %w", recErr)
		} else {
			runErr = fmt.Errorf("%w (and could not record it: %v)", runErr, recErr)
		}
	}
	opt.Phase("")
	return Outcome{RunID: id, Status: status, Err: runErr, Summaries: r.summaries}
}

// runner holds the state of one run while it executes.
type runner struct {
	job       *Job
	opt       Options
	id        int64
	dir       string
	timings   map[string]float64
	summaries map[string]float64
	be        *backend.Backend // the run's backend as created: its kernel and convolution
	backend   backends.Backend // be's GoMLX backend
	ctx       *gctx.Context
	resume    bool // continue from the run's checkpoint instead of starting afresh
	lock      *runLock
	stopBeat  func()
}

// setUp starts the run's heartbeat, creates its backend (the caller finalizes r.backend when
// it is set) and records what it ran on and the process it runs.
func (r *runner) setUp() error {
	r.stopBeat = heartbeat(r.opt.Store, r.id, r.opt.HeartbeatEvery)
	start := time.Now()
	var err error
	if r.be, err = backend.New(backend.Choice{Config: r.job.Trial.Backend, Kernel: r.opt.Kernel}); err != nil {
		return err
	}
	r.backend = r.be.GoMLX()
	r.timings["backend"] = time.Since(start).Seconds()
	if err := r.opt.Store.AddEnv(r.id, r.be.Env()); err != nil {
		return err
	}
	r.timings["data"] = r.job.DataSeconds
	return r.recordProcess()
}

// errDiverged marks a run stopped by the NaN/Inf guard.
var errDiverged = errors.New("diverged")

func (r *runner) execute(ctx context.Context) (status string, err error) {
	defer func() {
		if p := recover(); p != nil {
			status, err = results.StatusFailed, fmt.Errorf("panic: %v", p)
		}
	}()
	start := time.Now()
	err = r.setUp()
	if r.backend != nil {
		defer r.backend.Finalize()
	}
	if err != nil {
		return results.StatusFailed, err
	}
	interrupted, err := r.train(ctx)
	if errors.Is(err, errDiverged) {
		return results.StatusDiverged, err
	}
	if err != nil {
		return results.StatusFailed, err
	}
	if interrupted {
		return results.StatusInterrupted, errors.New("interrupted by signal; checkpointed in its artifact folder")
	}
	if err := r.sampleAndEvaluate(ctx); err != nil {
		if ctx.Err() != nil {
			// A signal came while sampling or evaluating (a metric plugin may report the
			// cancellation in its own words). The final checkpoint was written when
			// training ended: resume samples and evaluates again from it.
			return results.StatusInterrupted, fmt.Errorf("interrupted by signal while sampling or evaluating; the trained model is checkpointed in %s", r.dir)
		}
		return results.StatusFailed, err
	}
	r.timings["total"] = time.Since(start).Seconds()
	return results.StatusFinished, nil
}

// freshDir creates a new run's artifact folder. A folder already there was left by a run of
// a deleted or replaced database file of the same name that had the same id: it is moved
// aside, never reused, since its checkpoint would otherwise be loaded into this run.
func freshDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		stale := fmt.Sprintf("%s.stale-%s", dir, time.Now().UTC().Format("20060102T150405.000000000"))
		if err := os.Rename(dir, stale); err != nil {
			return fmt.Errorf("moving aside stale artifacts %s: %w", dir, err)
		}
	}
	return os.MkdirAll(dir, 0o755)
}
