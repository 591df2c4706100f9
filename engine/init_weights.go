package engine

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/ddpm-runner/ddpm-runner/backend"
)

// initialisesOnGo says whether a run's weights are initialised on the go backend before
// training: on every backend but go itself. GoMLX draws initial weights with the backend's
// own random bit generator (PCG on the go backend, XLA's on XLA), so without this the same
// trial would start from different weights on different backends and no two backends'
// losses could be compared step by step.
func initialisesOnGo(c backend.Choice, forced bool) bool {
	return forced || !c.IsGo()
}

// initialiseOnGo gives the network's variables in ctx (whose random state the trainer has
// seeded) their initial values by running the network once on a go backend, as the first
// training step on the go backend would, then detaches the values from that backend so that
// the training backend uploads them. ctx must be unchecked, so that the training graph reuses
// the variables. The go backend runs the run's kernel.
func (j *Job) initialiseOnGo(ctx *gctx.Context, kernel backend.Kernel) error {
	b, err := backend.New(backend.Choice{Config: "go", Kernel: kernel})
	if err != nil {
		return err
	}
	defer b.Finalize()
	gb := b.GoMLX()
	dim, outDim := j.Data.Dim(), j.Data.Dim()*j.Diffusion.OutputMultiplier()
	exec, err := gctx.NewExec(gb, ctx, func(ctx *gctx.Context, xt, t *graph.Node) *graph.Node {
		return j.Net.Apply(ctx.In(modelScope), xt, t, outDim)
	})
	if err != nil {
		return fmt.Errorf("initialising the weights on the go backend: %w", err)
	}
	defer exec.Finalize()
	// One example is enough: the values of the variables do not depend on the batch.
	xt := tensors.FromFlatDataAndDimensions(make([]float32, dim), 1, dim)
	t := tensors.FromFlatDataAndDimensions([]int32{0}, 1)
	if _, err := exec.Exec(xt, t); err != nil {
		return fmt.Errorf("initialising the weights on the go backend: %w", err)
	}
	for v := range ctx.IterVariables() {
		if !v.HasValue() {
			continue
		}
		value, err := v.Value()
		if err != nil {
			return err
		}
		host, err := value.LocalClone()
		if err != nil {
			return err
		}
		if err := v.SetValue(host); err != nil {
			return err
		}
	}
	return nil
}
