package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// Env keys of a sample run (runner sample): which run's weights it sampled from.
const (
	KindEnvKey      = "kind"
	ParentEnvKey    = "parent_run"
	ParentUIDEnvKey = "parent_uid"
)

// SampleFrom draws samples from the final weights of a finished run (parent) with the
// sampler and evaluation settings of job, whose trial is the parent's with those changed
// (spec.SampleTrials), evaluates them and records a new run whose env names the parent. The
// parent's artifacts are only read.
func SampleFrom(ctx context.Context, job *Job, parent *results.Run, opt Options) Outcome {
	opt = withDefaults(opt)
	t := job.Trial
	if t.Kind != spec.KindSample {
		return Outcome{Status: results.StatusFailed, Err: fmt.Errorf("trial of kind %q is not a sample trial", t.Kind)}
	}
	if parent.Status != results.StatusFinished {
		return Outcome{Status: results.StatusFailed, Err: fmt.Errorf("run %d is %s: only a finished run's weights are sampled", parent.ID, parent.Status)}
	}
	ckpt, err := finalCheckpoint(opt.Store, parent)
	if err != nil {
		return Outcome{Status: results.StatusFailed, Err: err}
	}
	if err := checkCheckpointShapes(job, ckpt.json, ckpt.bin); err != nil {
		return Outcome{Status: results.StatusFailed, Err: err}
	}
	r, failed := startRun(job, opt, map[string]string{KindEnvKey: spec.KindSample,
		ParentEnvKey: strconv.FormatInt(parent.ID, 10), ParentUIDEnvKey: parent.UID})
	if r == nil {
		return failed
	}
	return r.finish(r.executeSample(ctx, ckpt))
}

// checkpointFiles are a checkpoint's two files: GoMLX writes NAME.json and NAME.bin.
type checkpointFiles struct{ json, bin string }

// finalCheckpoint finds the last checkpoint of a finished run: the one its training ended
// with, which the engine always writes.
func finalCheckpoint(store *results.Store, parent *results.Run) (checkpointFiles, error) {
	dir := filepath.Join(store.ArtifactRoot(), strconv.FormatInt(parent.ID, 10), "checkpoint")
	names, err := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	if err != nil || len(names) == 0 {
		return checkpointFiles{}, fmt.Errorf("run %d has no checkpoint in %s to sample from (its artifacts were deleted?)", parent.ID, dir)
	}
	slices.Sort(names) // GoMLX numbers its checkpoints: the last name is the newest
	last := names[len(names)-1]
	files := checkpointFiles{json: last, bin: strings.TrimSuffix(last, ".json") + ".bin"}
	if _, err := os.Stat(files.bin); err != nil {
		return checkpointFiles{}, fmt.Errorf("run %d: checkpoint %s has no weights file: %w", parent.ID, last, err)
	}
	return files, nil
}

// executeSample loads the checkpoint's weights (from a copy, so that the parent's folder is
// never written) and samples and evaluates as a training run does after its last step.
func (r *runner) executeSample(ctx context.Context, ckpt checkpointFiles) (status string, err error) {
	defer func() {
		if p := recover(); p != nil {
			status, err = results.StatusFailed, fmt.Errorf("panic: %v", p)
		}
	}()
	err = r.setUp()
	if r.backend != nil {
		defer r.backend.Finalize()
	}
	if err != nil {
		return results.StatusFailed, err
	}
	if err := r.loadWeights(ckpt); err != nil {
		return results.StatusFailed, err
	}
	if err := r.sampleAndEvaluate(ctx); err != nil {
		if ctx.Err() != nil {
			return results.StatusInterrupted, fmt.Errorf("interrupted by signal while sampling: %w", err)
		}
		return results.StatusFailed, err
	}
	return results.StatusFinished, nil
}

// loadWeights puts the checkpoint's variables into a fresh context for sampling, and checks
// that it is the checkpoint of the last training step.
func (r *runner) loadWeights(ckpt checkpointFiles) error {
	tmp, err := os.MkdirTemp("", "ddpm-sample-weights-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{ckpt.json, ckpt.bin} {
		if err := copyFile(f, filepath.Join(tmp, filepath.Base(f))); err != nil {
			return fmt.Errorf("copying the parent's checkpoint: %w", err)
		}
	}
	r.ctx = newContext(r.job.Trial.Backend).Checked(false)
	h, err := checkpoints.Build(r.ctx).Dir(tmp).Done()
	if err != nil {
		return fmt.Errorf("loading the parent's checkpoint %s: %w", ckpt.json, err)
	}
	materialize(r.ctx, h)
	if got, want := int(optimizers.GetGlobalStep(r.ctx)), r.job.Trial.Train().Int("steps"); got != want {
		return fmt.Errorf("the parent's last checkpoint %s is of step %d, not of its last step %d", ckpt.json, got, want)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
