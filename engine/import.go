package engine

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// Weights are a network's variables as another tool trained them, keyed by the variable's
// scope below the network's own and its name ("down0/conv1/kernel"), each in the shape the
// network declares it.
type Weights map[string]*tensors.Tensor

// NetworkVariable is one variable the job's network declares: its key (as Weights keys it)
// and its shape.
type NetworkVariable struct {
	Key  string
	Dims []int
}

// NetworkVariables builds the job's network once on a scratch context (on the go backend,
// batch 1) and lists its variables in name order: what a Weights for it must hold.
func NetworkVariables(j *Job, opt Options) ([]NetworkVariable, error) {
	ctx := gctx.New().Checked(false)
	if err := j.initialiseOnGo(ctx, opt.Kernel); err != nil {
		return nil, err
	}
	var out []NetworkVariable
	prefix := "/" + modelScope + "/"
	for v := range ctx.IterVariables() {
		if !v.Trainable || !isUnder(v.Scope(), "/"+modelScope) {
			continue
		}
		key := strings.TrimPrefix(v.Scope()+"/", prefix) + v.Name()
		out = append(out, NetworkVariable{Key: key, Dims: v.Shape().Dimensions})
	}
	slices.SortFunc(out, func(a, b NetworkVariable) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Import records a finished run of kind imported (job's trial must be of spec.KindImported)
// whose final checkpoint holds w as the network's weights, written by the engine's own
// checkpointer, so that `runner sample` and the metrics read it as a trained run's. Its
// trial keeps no EMA (train.ema = 0): the imported weights are the ones sampled. env is
// recorded beside the provenance (what was imported). Every variable of the network must be
// in w with its shape, and nothing else: a mismatch is a *RefusedError and nothing is
// written.
func Import(job *Job, w Weights, env map[string]string, opt Options) Outcome {
	opt = withDefaults(opt)
	if job.Trial.Kind != spec.KindImported {
		return Outcome{Status: results.StatusFailed, Err: fmt.Errorf("trial of kind %q is not an imported trial", job.Trial.Kind)}
	}
	if len(emaRates(job.Trial)) > 0 {
		return Outcome{Status: results.StatusFailed, Err: &RefusedError{Msg: "an imported run keeps no EMA: train.ema must be 0"}}
	}
	ctx := gctx.New().Checked(false)
	if err := job.initialiseOnGo(ctx, opt.Kernel); err != nil {
		return Outcome{Status: results.StatusFailed, Err: err}
	}
	if err := setImported(ctx, w, job.Trial.Section("network").Name); err != nil {
		return Outcome{Status: results.StatusFailed, Err: &RefusedError{Msg: err.Error()}}
	}
	step := optimizers.GetGlobalStepVar(ctx)
	if err := step.SetValue(tensors.FromScalar(int64(job.Trial.Settings.Train.Steps))); err != nil {
		return Outcome{Status: results.StatusFailed, Err: err}
	}
	extra := maps.Clone(env)
	if extra == nil {
		extra = map[string]string{}
	}
	extra[KindEnvKey] = spec.KindImported
	r, out := startRun(job, opt, extra)
	if r == nil {
		return out
	}
	return r.finish(r.writeImported(ctx))
}

// setImported replaces the value of every network variable in ctx with w's, after checking
// that w holds exactly the network's variables in their shapes.
func setImported(ctx *gctx.Context, w Weights, network string) error {
	prefix := "/" + modelScope + "/"
	seen := map[string]bool{}
	for v := range ctx.IterVariables() {
		if !v.Trainable || !isUnder(v.Scope(), "/"+modelScope) {
			continue
		}
		key := strings.TrimPrefix(v.Scope()+"/", prefix) + v.Name()
		val, ok := w[key]
		if !ok {
			return fmt.Errorf("[network] %s has variable %s %v, which the imported weights lack", network, key, v.Shape().Dimensions)
		}
		if !slices.Equal(val.Shape().Dimensions, v.Shape().Dimensions) || val.DType() != v.Shape().DType {
			return fmt.Errorf("[network] %s variable %s is %s, the imported one %s", network, key, v.Shape(), val.Shape())
		}
		if err := v.SetValue(val); err != nil {
			return err
		}
		seen[key] = true
	}
	for _, k := range slices.Sorted(maps.Keys(w)) {
		if !seen[k] {
			return fmt.Errorf("the imported weights hold %s %v, which [network] %s does not have", k, w[k].Shape().Dimensions, network)
		}
	}
	return nil
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
