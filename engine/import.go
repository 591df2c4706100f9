package engine

import (
	"fmt"
	"maps"
	"path/filepath"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// Fill gives the network's variables, built in ctx under scope (the network's own,
// "/model"), the values of weights trained elsewhere, or says why it cannot: a variable it
// has no value for, a tensor of another shape or one the network lacks. It must set every
// variable under scope.
type Fill func(ctx *gctx.Context, scope string) error

// Imported is a job's network with weights trained elsewhere, ready to be recorded as a run.
type Imported struct {
	job *Job
	ctx *gctx.Context
}

// PrepareImport builds job's network (its trial must be of spec.KindImported and keep no
// EMA: the imported weights are the ones sampled) on a scratch context and gives its
// variables the weights fill sets. Nothing is written; an error of fill is a *RefusedError.
func PrepareImport(job *Job, fill Fill, opt Options) (*Imported, error) {
	if job.Trial.Kind != spec.KindImported {
		return nil, fmt.Errorf("trial of kind %q is not an imported trial", job.Trial.Kind)
	}
	if len(emaRates(job.Trial)) > 0 {
		return nil, &RefusedError{Msg: "an imported run keeps no EMA: train.ema must be 0"}
	}
	ctx := gctx.New().Checked(false)
	if err := job.initialiseOnGo(ctx, opt.Kernel); err != nil {
		return nil, err
	}
	if err := fill(ctx, "/"+modelScope); err != nil {
		return nil, &RefusedError{Msg: err.Error(), Err: err}
	}
	step := optimizers.GetGlobalStepVar(ctx)
	if err := step.SetValue(tensors.FromScalar(int64(job.Trial.Settings.Train.Steps))); err != nil {
		return nil, err
	}
	return &Imported{job: job, ctx: ctx}, nil
}

// Record records a finished run of kind imported whose final checkpoint holds the imported
// weights, written by the engine's own checkpointer, so that `runner sample` and the metrics
// read it as a trained run's. env is recorded beside the provenance (what was imported).
func (im *Imported) Record(env map[string]string, opt Options) Outcome {
	opt = withDefaults(opt)
	extra := maps.Clone(env)
	if extra == nil {
		extra = map[string]string{}
	}
	extra[KindEnvKey] = spec.KindImported
	r, out := startRun(im.job, opt, extra)
	if r == nil {
		return out
	}
	return r.finish(r.writeImported(im.ctx))
}

// writeImported writes the run's one checkpoint (and the timestep sampler state a trained
// run keeps beside it) from ctx.
func (r *runner) writeImported(ctx *gctx.Context) (string, error) {
	if err := r.setUp(); err != nil {
		if r.backend != nil {
			r.backend.Finalize()
		}
		return results.StatusFailed, err
	}
	r.backend.Finalize()
	r.opt.Phase("checkpoint")
	c, _, _, err := openCheckpoints(ctx, r.job, filepath.Join(r.dir, "checkpoint"), false)
	if err != nil {
		return results.StatusFailed, err
	}
	if err := c.save(ctx, r.job.Timesteps); err != nil {
		return results.StatusFailed, err
	}
	return results.StatusFinished, nil
}
