package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gomlx/gomlx/backends"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/ddpm-runner/ddpm-runner/internal/fastdot"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// Options configures Run.
type Options struct {
	Store *results.Store
	// Progress receives the progress bar or lines; nil or io.Discard for none.
	Progress io.Writer
	// ArtifactRoot is the folder of per-run artifacts, runs/ beside the database by default.
	ArtifactRoot string
	// MetricBatch is how many metric rows go in one transaction; default 256.
	MetricBatch int
}

// Outcome is how a run ended.
type Outcome struct {
	RunID     int64
	Status    string
	Err       error
	Summaries map[string]float64
}

// Run trains, samples and evaluates one prepared trial and records it all. It never panics:
// a GoMLX panic becomes a failed run with the message.
func Run(ctx context.Context, job *Job, opt Options) Outcome {
	if opt.ArtifactRoot == "" {
		opt.ArtifactRoot = filepath.Join(filepath.Dir(opt.Store.Path), "runs")
	}
	if opt.MetricBatch <= 0 {
		opt.MetricBatch = 256
	}
	t := job.Trial
	env := results.Provenance()
	env["backend"] = t.Backend
	id, err := opt.Store.CreateRun(results.NewRun{
		Spec: t.Spec, SpecFile: t.File, Hash: t.Hash(), GroupHash: t.GroupHash(), Resolved: t.Canonical(),
		Seed: t.Seed, Backend: t.Backend, Params: t.Params(), Env: env,
	})
	if err != nil {
		return Outcome{Status: results.StatusFailed, Err: err}
	}
	r := &runner{job: job, opt: opt, id: id, dir: filepath.Join(opt.ArtifactRoot, strconv.FormatInt(id, 10)),
		timings: map[string]float64{}, summaries: map[string]float64{}}
	return r.finish(r.execute(ctx))
}

// Resume continues a recorded run (interrupted, or crashed while running) from its last
// checkpoint, in place: same run id, the loss history after the checkpoint's step replaced.
// With the data and noise of a step a pure function of (seed, step) and the checkpoint
// holding weights, Adam moments, EMA, global step and RNG state, the finished history equals
// that of a run never interrupted, bit for bit.
func Resume(ctx context.Context, job *Job, opt Options, id int64) Outcome {
	if opt.ArtifactRoot == "" {
		opt.ArtifactRoot = filepath.Join(filepath.Dir(opt.Store.Path), "runs")
	}
	if opt.MetricBatch <= 0 {
		opt.MetricBatch = 256
	}
	r := &runner{job: job, opt: opt, id: id, dir: filepath.Join(opt.ArtifactRoot, strconv.FormatInt(id, 10)),
		timings: map[string]float64{}, summaries: map[string]float64{}, resume: true}
	if err := opt.Store.MarkResumed(id); err != nil {
		return Outcome{RunID: id, Status: results.StatusFailed, Err: err}
	}
	return r.finish(r.execute(ctx))
}

// finish records how the run ended.
func (r *runner) finish(status string, runErr error) Outcome {
	id, opt := r.id, r.opt
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	if err := opt.Store.SetTimings(id, r.timings); err != nil && runErr == nil {
		status, runErr, msg = results.StatusFailed, err, err.Error()
	}
	if err := opt.Store.SetSummaries(id, r.summaries); err != nil && runErr == nil {
		status, runErr, msg = results.StatusFailed, err, err.Error()
	}
	if err := opt.Store.EndRun(id, status, msg); err != nil && runErr == nil {
		runErr = err
	}
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
	backend   backends.Backend
	ctx       *gctx.Context
	resume    bool // continue from the run's checkpoint instead of starting afresh
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
	if r.backend, err = NewBackend(r.job.Trial.Backend); err != nil {
		return results.StatusFailed, err
	}
	defer r.backend.Finalize()
	r.timings["backend"] = time.Since(start).Seconds()
	if r.backend.String() == "go" {
		// Which matmul kernel ran is part of what it takes to reproduce the numbers.
		if err := r.opt.Store.AddEnv(r.id, map[string]string{MatmulEnvKey: fastdot.Kernel()}); err != nil {
			return results.StatusFailed, err
		}
	}
	r.timings["data"] = r.job.DataSeconds

	if !r.resume {
		if err := freshDir(r.dir); err != nil {
			return results.StatusFailed, err
		}
	}
	interrupted, err := r.train(ctx)
	if errors.Is(err, errDiverged) {
		return results.StatusDiverged, err
	}
	if err != nil {
		return results.StatusFailed, err
	}
	if interrupted {
		return results.StatusInterrupted, fmt.Errorf("interrupted by signal; checkpoint in %s", r.dir)
	}
	if err := r.sampleAndEvaluate(); err != nil {
		return results.StatusFailed, err
	}
	r.timings["total"] = time.Since(start).Seconds()
	return results.StatusFinished, nil
}

// freshDir creates a run's artifact folder. A folder already there belongs to a run of
// another (deleted or replaced) database that had the same id: it is moved aside, never
// reused, since its checkpoint would otherwise be loaded into this run.
func freshDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		stale := fmt.Sprintf("%s.stale-%s", dir, time.Now().UTC().Format("20060102T150405.000000000"))
		if err := os.Rename(dir, stale); err != nil {
			return fmt.Errorf("moving aside stale artifacts %s: %w", dir, err)
		}
	}
	return os.MkdirAll(dir, 0o755)
}
