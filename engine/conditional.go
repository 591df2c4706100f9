package engine

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
	gctx "github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Class-conditional training and classifier-free guidance (Ho & Salimans 2022): with
// train.class_cond the network sees each example's class label, replaced by the extra label
// "no class" (= the number of classes) for a train.label_dropout share of the examples, so
// that one network learns both the conditional and the unconditional model. Sampling draws
// sample i for class i mod classes and mixes the two predictions with the guidance scale s,
// out = uncond + s (cond - uncond): s = 0 is the unconditional model, 1 the conditional one,
// above 1 guided (two network evaluations per step).

// prepareConditioning checks and sets up class conditioning and guidance for a job.
func (j *Job) prepareConditioning() error {
	t := j.Trial
	j.Guidance = t.Settings.Sample.Guidance
	if !t.Settings.Train.ClassCond {
		if j.Guidance != 1 {
			return fmt.Errorf("[sample] guidance = %g needs a class-conditional model (train.class_cond = true)", j.Guidance)
		}
		return nil
	}
	ld, ok := j.Data.(plugins.LabeledData)
	if !ok {
		return fmt.Errorf("[train] class_cond needs data with class labels; [data] %s has none (mnist, fashion-mnist, cifar10 and images in class subfolders have)", t.Section("data").Name)
	}
	cn, ok := j.Net.(plugins.ClassNetwork)
	if !ok {
		return fmt.Errorf("[train] class_cond needs a network that takes a class; [network] %s does not", t.Section("network").Name)
	}
	j.ClassCond, j.Classes = true, ld.Classes()
	cn.SetClasses(j.Classes)
	return nil
}

// network runs the job's network; label (nil for an unconditional job) is [batch] int32.
func (j *Job) network(ctx *gctx.Context, x, t, label *Node) *Node {
	outDim := j.Data.Dim() * j.Diffusion.OutputMultiplier()
	if label == nil || !j.ClassCond {
		return j.Net.Apply(ctx.In(modelScope), x, t, outDim)
	}
	return j.Net.(plugins.ClassNetwork).ApplyClass(ctx.In(modelScope), x, t, label, outDim)
}

// guided is the model output the sampler sees: the network for the samples' classes, mixed
// with its unconditional output by the guidance scale. It adds the network evaluations it
// makes per example to evals.
func (j *Job) guided(ctx *gctx.Context, x, t, label *Node, evals *int) *Node {
	if !j.ClassCond {
		*evals++
		return j.network(ctx, x, t, nil)
	}
	noClass := AddScalar(ZerosLike(label), float64(j.Classes))
	switch j.Guidance {
	case 0:
		*evals++
		return j.network(ctx, x, t, noClass)
	case 1:
		*evals++
		return j.network(ctx, x, t, label)
	}
	*evals += 2
	return j.Diffusion.Guide(j.network(ctx, x, t, label), j.network(ctx, x, t, noClass), j.Guidance)
}

// sampleLabels are the classes of n samples: sample i is drawn for class i mod classes.
func (j *Job) sampleLabels(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		if j.ClassCond {
			out[i] = int32(i % j.Classes)
		}
	}
	return out
}

// dropLabels replaces each label by "no class" with probability p, from the step's stream.
func dropLabels(labels []int32, classes int, p float64, uniform func() float64) {
	for i := range labels {
		if uniform() < p {
			labels[i] = int32(classes)
		}
	}
}

// classRows orders samples for a grid with one row per class: row c holds the first cols
// samples drawn for class c.
func classRows(samples []float32, labels []int32, dim, classes, cols int) []float32 {
	var out []float32
	for c := range classes {
		taken := 0
		for i, l := range labels {
			if int(l) == c && taken < cols {
				out = append(out, samples[i*dim:(i+1)*dim]...)
				taken++
			}
		}
	}
	return out
}
