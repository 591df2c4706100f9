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

	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
	"github.com/ddpm-runner/ddpm-runner/plugins"
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
// parent's artifacts are only read: its checkpoint files only as regular files inside its
// own folder, of at most the size the network's checkpoint can have (checkpointCap). A
// checkpoint refused that way is a *RefusedError, and no run is recorded.
func SampleFrom(ctx context.Context, job *Job, parent *results.Run, opt Options) Outcome {
	opt = withDefaults(opt)
	ckpt, err := sampleSource(job, parent, opt)
	if err != nil {
		return Outcome{Status: results.StatusFailed, Err: err}
	}
	r, out := startRun(job, opt, map[string]string{KindEnvKey: spec.KindSample,
		ParentEnvKey: strconv.FormatInt(parent.ID, 10), ParentUIDEnvKey: parent.UID})
	if r == nil {
		return out
	}
	return r.finish(r.executeSample(ctx, ckpt))
}

// sampleSource checks that job is a sample trial of a finished parent and finds the
// parent's final checkpoint.
func sampleSource(job *Job, parent *results.Run, opt Options) (checkpointFiles, error) {
	if job.Trial.Kind != spec.KindSample {
		return checkpointFiles{}, fmt.Errorf("trial of kind %q is not a sample trial", job.Trial.Kind)
	}
	if parent.Status != results.StatusFinished {
		return checkpointFiles{}, fmt.Errorf("run %d is %s: only a finished run's weights are sampled", parent.ID, parent.Status)
	}
	ckpt, err := finalCheckpoint(opt.Store, parent, checkpointCap(job))
	if err != nil {
		return ckpt, err
	}
	if err := checkCheckpointShapes(job, ckpt.json, ckpt.bin); err != nil {
		return checkpointFiles{}, &RefusedError{Msg: err.Error()}
	}
	return ckpt, nil
}

// ParentOf finds the run that a sample run sampled from, by its uid (ids change in merges).
func ParentOf(store *results.Store, r *results.Run) (*results.Run, error) {
	uid := r.Env[ParentUIDEnvKey]
	var runs []*results.Run
	if uid != "" {
		var err error
		if runs, err = store.Runs(results.Filter{UID: uid}); err != nil {
			return nil, err
		}
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("sample run %d: its parent (run %s, uid %q) is not in %s", r.ID, r.Env[ParentEnvKey], uid, store.Path)
	}
	return runs[0], nil
}

// isSampleRun reports whether a recorded run is a sample run (runner sample).
func isSampleRun(r *results.Run) bool { return r.Env[KindEnvKey] == spec.KindSample }

// checkpointFiles are a checkpoint's two files: GoMLX writes NAME.json and NAME.bin, and
// the size each may have.
type checkpointFiles struct {
	root      string // the parent run's folder, which the files must not leave
	json, bin string
	limit     checkpointSize
}

// checkpointSize is the most bytes each file of a checkpoint may have.
type checkpointSize struct{ json, bin int64 }

// The bounds of checkpointCap: the JSON file describes the variables and the context's
// parameters, whatever the sizes of the tensors; a network that does not say its size
// (plugins.SizedNetwork) gets a generous fixed bound for its tensors.
const (
	maxCheckpointJSON     = 64 << 20
	unsizedCheckpointBin  = 16 << 30
	checkpointBinSlack    = 64 << 20
	checkpointBytesFactor = 2
)

// checkpointCap is the most that a checkpoint of job's network can take: each of its
// parameters as a float32 in the weights, the two Adam moments and every EMA, times
// checkpointBytesFactor for the file format and what the network's size leaves out, plus
// slack for the small variables (global step, random state). A checkpoint file larger
// than that is not one this run wrote.
func checkpointCap(j *Job) checkpointSize {
	sn, ok := j.Net.(plugins.SizedNetwork)
	if !ok {
		return checkpointSize{json: maxCheckpointJSON, bin: unsizedCheckpointBin}
	}
	params, _ := sn.Size(j.Data.Dim(), j.Data.Dim()*j.Diffusion.OutputMultiplier())
	copies := float64(3 + len(emaRates(j.Trial)))
	bin := float64(params)*4*copies*checkpointBytesFactor + checkpointBinSlack
	return checkpointSize{json: maxCheckpointJSON, bin: int64(min(bin, unsizedCheckpointBin))}
}

// finalCheckpoint finds the last checkpoint of a finished run: the one its training ended
// with, which the engine always writes. Its files are checked as copyCheckpoint will open
// them, so that a checkpoint that cannot be read is refused before a sample run is recorded.
func finalCheckpoint(store *results.Store, parent *results.Run, limit checkpointSize) (checkpointFiles, error) {
	refused := func(format string, args ...any) (checkpointFiles, error) {
		return checkpointFiles{}, &RefusedError{Msg: fmt.Sprintf(format, args...)}
	}
	root, err := results.Confine(store.ArtifactRoot(), strconv.FormatInt(parent.ID, 10))
	if err != nil {
		return refused("run %d's artifact folder: %v", parent.ID, err)
	}
	dir := filepath.Join(root, "checkpoint")
	names, err := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	if err != nil || len(names) == 0 {
		return refused("run %d has no checkpoint in %s to sample from (its artifacts were deleted?)", parent.ID, dir)
	}
	slices.Sort(names) // GoMLX numbers its checkpoints: the last name is the newest
	last := names[len(names)-1]
	files := checkpointFiles{root: root, json: last, bin: strings.TrimSuffix(last, ".json") + ".bin", limit: limit}
	if err := files.checkFiles(); err != nil {
		return refused("run %d's checkpoint cannot be sampled from: %v", parent.ID, err)
	}
	return files, nil
}

// checkFiles refuses the checkpoint unless both its files are regular files inside root,
// once every symlink is followed, within their limits: GoMLX opens whatever the names lead
// to, and a FIFO would block it for good, /dev/zero fill memory, a file elsewhere stand in
// for the run's weights.
func (f checkpointFiles) checkFiles() error {
	for _, c := range []struct {
		path  string
		limit int64
	}{{f.json, f.limit.json}, {f.bin, f.limit.bin}} {
		in, err := results.OpenConfined(f.root, c.path, c.limit)
		if err != nil {
			return err
		}
		in.Close()
	}
	return nil
}

// check is checkFiles, then checkCheckpointShapes for j: what must hold before GoMLX reads
// the checkpoint.
func (f checkpointFiles) check(j *Job) error {
	if err := f.checkFiles(); err != nil {
		return err
	}
	return checkCheckpointShapes(j, f.json, f.bin)
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
			return results.StatusInterrupted, fmt.Errorf("interrupted by signal while sampling; continue it with `runner resume %d`: %w", r.id, err)
		}
		return results.StatusFailed, err
	}
	return results.StatusFinished, nil
}

// parentCopy is the folder in a sample run's own folder where the parent's checkpoint is
// copied to be loaded; it is removed once loaded (a process killed meanwhile leaves it in
// the run's folder, where the next try replaces it).
const parentCopy = "parent-checkpoint"

// loadWeights puts the checkpoint's variables into a fresh context for sampling, and checks
// that it is the checkpoint of the last training step.
func (r *runner) loadWeights(ckpt checkpointFiles) error {
	r.opt.Phase("copy")
	tmp := filepath.Join(r.dir, parentCopy)
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, f := range []struct {
		path  string
		limit int64
	}{{ckpt.json, ckpt.limit.json}, {ckpt.bin, ckpt.limit.bin}} {
		if err := copyConfined(ckpt.root, f.path, filepath.Join(tmp, filepath.Base(f.path)), f.limit); err != nil {
			return fmt.Errorf("copying the parent's checkpoint: %w", err)
		}
	}
	r.ctx = newContext(r.be).Checked(false)
	h, err := checkpoints.Build(r.ctx).Dir(tmp).Done()
	if err != nil {
		return fmt.Errorf("loading the parent's checkpoint %s: %w", ckpt.json, err)
	}
	materialize(r.ctx, h)
	if got, want := int(optimizers.GetGlobalStep(r.ctx)), r.job.Trial.Settings.Train.Steps; got != want {
		return fmt.Errorf("the parent's last checkpoint %s is of step %d, not of its last step %d", ckpt.json, got, want)
	}
	return nil
}

// copyConfined copies src, which must be a regular file inside root of at most limit bytes
// (results.OpenConfined), to dst, and never more than limit bytes even if src grows.
func copyConfined(root, src, dst string, limit int64) error {
	in, err := results.OpenConfined(root, src, limit)
	if err != nil {
		return err
	}
	defer in.Close()
	n, err := atomicfile.WriteNew(context.Background(), dst, io.LimitReader(in, limit+1), 0o644)
	if err == nil && n > limit {
		err = fmt.Errorf("%s grew past the %d bytes allowed while it was copied", src, limit)
	}
	return err
}
