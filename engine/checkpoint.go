package engine

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	gctx "github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// timestepsFile is where the timestep sampler's state at a checkpoint step is kept.
func timestepsFile(dir string, step int) string {
	return filepath.Join(dir, fmt.Sprintf("timesteps-step-%08d.json", step))
}

// pruneTimesteps keeps the newest keep sampler-state files (checkpoints keep two).
func pruneTimesteps(dir string, keep int) error {
	files, err := filepath.Glob(filepath.Join(dir, "timesteps-step-*.json"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	for len(files) > keep {
		if err := os.Remove(files[0]); err != nil {
			return err
		}
		files = files[1:]
	}
	return nil
}

// dropBrokenCheckpoints moves aside the newest checkpoints of j's run (in dir) that cannot
// be resumed from, so that a run killed while writing one (kill -9, power loss), or one
// whose file or timestep sampler state was damaged or replaced since, resumes from the one
// before. Each must have regular files inside dir that fit j's network (checkFiles,
// checkCheckpointShapes) before GoMLX is let to read it, on a scratch context; the sampler
// state of its step is then put into a scratch sampler. A checkpoint whose state is
// missing or refused is no more usable than an unreadable one, since training on from it
// would draw other timesteps than the uninterrupted run. What is moved aside keeps its
// files with a .broken suffix; setAside says what and why. left reports whether a usable
// checkpoint remains: a run killed while writing its first one has none, and starts over.
func dropBrokenCheckpoints(j *Job, dir string) (left bool, setAside []string, err error) {
	for {
		names, err := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
		if err != nil {
			return false, setAside, err
		}
		if len(names) == 0 {
			return false, setAside, nil
		}
		sort.Strings(names) // GoMLX's own order: the last is the one it loads
		base := strings.TrimSuffix(names[len(names)-1], ".json")
		files := checkpointFiles{root: dir, json: base + ".json", bin: base + ".bin", limit: checkpointCap(j)}
		step := 0
		err = files.check(j)
		if err == nil {
			step, err = readableStep(dir)
		}
		if err != nil {
			setAside = append(setAside, fmt.Sprintf("%s: %v", filepath.Base(base), err))
			if err := moveAside(base+".bin", base+".json"); err != nil {
				return false, setAside, err
			}
			continue
		}
		state := timestepsFile(dir, step)
		if err := checkTimesteps(dir, state, j.newTimestepSampler); err != nil {
			setAside = append(setAside, fmt.Sprintf("%s: the timestep sampler state of its step %d: %v", filepath.Base(base), step, err))
			if err := moveAside(base+".bin", base+".json", state); err != nil {
				return false, setAside, err
			}
			continue
		}
		return true, setAside, nil
	}
}

// readableStep loads the newest checkpoint of dir on a scratch context and returns its
// global step. A checkpoint that GoMLX reads but whose values make it panic (a global step
// of another type) is as broken as an unreadable one.
func readableStep(dir string) (step int, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("unreadable: %v", p)
		}
	}()
	scratch := gctx.New()
	if _, err := checkpoints.Build(scratch).Dir(dir).Done(); err != nil {
		return 0, err
	}
	return int(optimizers.GetGlobalStep(scratch)), nil
}

// maxSamplerState is the most bytes of timestep sampler state read back. The largest state,
// the importance sampler's, holds HistoryPerT losses for each timestep as JSON numbers; at
// the largest T a spec allows it fits with room to spare (TestSamplerStateCap).
const maxSamplerState = 64 << 20

// readTimesteps reads the sampler state at path, which must be a regular file inside the
// checkpoint folder dir of at most maxSamplerState bytes: anyone who can write the run's
// folder can put a FIFO there, which would block the read for good, or a symlink to
// /dev/zero, which would fill memory.
func readTimesteps(dir, path string) ([]byte, error) {
	return results.ReadConfined(dir, path, maxSamplerState)
}

// checkTimesteps reports whether a fresh sampler accepts the state at path in dir.
func checkTimesteps(dir, path string, newSampler func() (plugins.TimestepSampler, error)) error {
	b, err := readTimesteps(dir, path)
	if err != nil {
		return err
	}
	ts, err := newSampler()
	if err != nil {
		return err
	}
	return ts.SetState(b)
}

// moveAside renames each of files that exists to the same name with .broken appended.
func moveAside(files ...string) error {
	for _, f := range files {
		if _, err := os.Lstat(f); err != nil {
			continue
		}
		if err := os.Rename(f, f+".broken"); err != nil {
			return err
		}
	}
	return nil
}

// materialize creates in ctx every variable that the checkpoint handler still holds, in name
// order (GoMLX's own immediate loading goes in map order, which would change the order of
// variables, and so of the sums over them, from one process to the next).
func materialize(ctx *gctx.Context, h *checkpoints.Handler) {
	loaded := h.LoadedVariables()
	names := slices.Sorted(maps.Keys(loaded))
	values := make([]*tensors.Tensor, len(names))
	for i, name := range names {
		values[i] = loaded[name]
	}
	for i, name := range names {
		scope, varName := gctx.VariableScopeAndNameFromParameterName(name)
		if ctx.InspectVariable(scope, varName) != nil {
			continue
		}
		ctx.Checked(false).InAbsPath(scope).VariableWithValue(varName, values[i])
	}
}

// checkpointer keeps a run's checkpoints (the last two) and, beside each, the timestep
// sampler's state at its step.
type checkpointer struct {
	dir     string
	handler *checkpoints.Handler
}

// openCheckpoints attaches j's checkpoint folder dir to ctx. On resume, the newest usable
// checkpoint is loaded into ctx (broken ones are moved aside first, see
// dropBrokenCheckpoints, and listed in setAside); restored reports whether there was one.
func openCheckpoints(ctx *gctx.Context, j *Job, dir string, resume bool) (c *checkpointer, restored bool, setAside []string, err error) {
	if resume { // claim has checked that a checkpoint is there
		if restored, setAside, err = dropBrokenCheckpoints(j, dir); err != nil {
			return nil, false, setAside, err
		}
	}
	h, err := checkpoints.Build(ctx).Dir(dir).Keep(2).Done()
	if err != nil {
		return nil, false, setAside, fmt.Errorf("checkpoints: %w", err)
	}
	return &checkpointer{dir: dir, handler: h}, restored, setAside, nil
}

// restoreTimesteps puts back the sampler state of the loaded checkpoint's step, which it
// returns.
func (c *checkpointer) restoreTimesteps(ctx *gctx.Context, ts plugins.TimestepSampler) (step int, err error) {
	step = int(optimizers.GetGlobalStep(ctx))
	b, err := readTimesteps(c.dir, timestepsFile(c.dir, step))
	if err != nil {
		return 0, fmt.Errorf("timestep sampler state of the step %d checkpoint: %w", step, err)
	}
	if err := ts.SetState(b); err != nil {
		return 0, fmt.Errorf("step %d checkpoint: %w", step, err)
	}
	return step, nil
}

// save writes a checkpoint of ctx. The timestep sampler's state is saved per checkpoint
// step, so a resume that falls back to an older checkpoint also gets the matching state. It
// is written (atomically) before the checkpoint, so a process killed in between leaves no
// checkpoint without its sampler state.
func (c *checkpointer) save(ctx *gctx.Context, ts plugins.TimestepSampler) error {
	step := int(optimizers.GetGlobalStep(ctx))
	state, err := ts.State()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(timestepsFile(c.dir, step), state, 0o644); err != nil {
		return err
	}
	if err := c.handler.Save(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return pruneTimesteps(c.dir, 3)
}

// Bounds of checkCheckpointShapes.
const (
	// maxCheckpointMeta is the largest checkpoint metadata (.json) file read.
	maxCheckpointMeta = 16 << 20
	// gzipMaxRatio bounds how much data a gzip file can hold per byte (deflate's limit is
	// about 1032 to 1).
	gzipMaxRatio = 1100
	// smallVariable is the most values a variable that is not a network weight (or a copy of
	// one: Adam moments, EMA) may have: the step, learning rate, RNG state, loss averages.
	smallVariable = 1024
)

// checkpointVar is one variable of a GoMLX checkpoint's metadata.
type checkpointVar struct {
	ParameterName string
	Dimensions    []int
	DType         dtypes.DType
	Pos, Length   int64
}

// checkCheckpointShapes reads a checkpoint's metadata and refuses it, before any of its
// tensors is allocated, unless its variables fit the job's network: the loader allocates
// whatever shapes the metadata states, and a metadata file edited to state [100000, 1000000]
// would take the process past all memory. It checks that every shape is well formed and
// matches its byte length, that the data fit in the weights file, that the network's weights
// add up to the number of parameters the network declares (plugins.SizedNetwork), and that
// every other variable is a copy of a weight's shape or small.
func checkCheckpointShapes(j *Job, jsonPath, binPath string) error {
	dir := filepath.Dir(jsonPath)
	meta, err := results.ReadConfined(dir, jsonPath, maxCheckpointMeta)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", jsonPath, err)
	}
	var doc struct {
		Variables []checkpointVar
		BinFormat string
	}
	if err := json.Unmarshal(meta, &doc); err != nil {
		return fmt.Errorf("checkpoint %s is not checkpoint metadata: %w", jsonPath, err)
	}
	bin, err := results.OpenConfined(dir, binPath, 1<<50)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", jsonPath, err)
	}
	st, err := bin.Stat()
	bin.Close()
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", binPath, err)
	}
	capacity := st.Size()
	if doc.BinFormat != "uncompressed" {
		capacity = capacity*gzipMaxRatio + 1<<16
	}
	bad := func(v checkpointVar, format string, args ...any) error {
		return fmt.Errorf("checkpoint %s: variable %q %v: %s; it does not fit this run's [network] %s",
			jsonPath, v.ParameterName, v.Dimensions, fmt.Sprintf(format, args...), j.Trial.Section("network").Name)
	}
	modelPrefix := "var:/" + modelScope + "/"
	weightShapes := map[string]bool{}
	var total, modelValues int64
	elems := make([]int64, len(doc.Variables))
	for i, v := range doc.Variables {
		size, ok := dtypeBytes[v.DType]
		if !ok {
			return bad(v, "dtype %s is not one a checkpoint holds", v.DType)
		}
		n := int64(1)
		for _, d := range v.Dimensions {
			if d < 0 || (d > 0 && n > (1<<40)/int64(d)) {
				return bad(v, "the shape is negative or has more than 2^40 values")
			}
			n *= int64(d)
		}
		if v.Length != n*size || v.Pos != total {
			return bad(v, "%d bytes at %d, while its shape takes %d bytes at %d", v.Length, v.Pos, n*size, total)
		}
		total += v.Length
		if total > capacity {
			return bad(v, "the variables take more than the %d bytes that %s can hold", capacity, binPath)
		}
		elems[i] = n
		if strings.HasPrefix(v.ParameterName, modelPrefix) {
			modelValues += n
			weightShapes[fmt.Sprint(v.Dimensions)] = true
		}
	}
	if sn, ok := j.Net.(plugins.SizedNetwork); ok {
		want, _ := sn.Size(j.Data.Dim(), j.Data.Dim()*j.Diffusion.OutputMultiplier())
		if modelValues != want {
			return fmt.Errorf("checkpoint %s: its network weights have %d values, this run's [network] %s has %d parameters",
				jsonPath, modelValues, j.Trial.Section("network").Name, want)
		}
	}
	for i, v := range doc.Variables {
		if elems[i] > smallVariable && !weightShapes[fmt.Sprint(v.Dimensions)] {
			return bad(v, "no network weight has this shape")
		}
	}
	return nil
}

// dtypeBytes are the bytes per value of the dtypes a checkpoint may hold.
var dtypeBytes = map[dtypes.DType]int64{
	dtypes.Float32: 4, dtypes.Float64: 8, dtypes.Float16: 2, dtypes.BFloat16: 2,
	dtypes.Int64: 8, dtypes.Int32: 4, dtypes.Int16: 2, dtypes.Int8: 1,
	dtypes.Uint64: 8, dtypes.Uint32: 4, dtypes.Uint16: 2, dtypes.Uint8: 1, dtypes.Bool: 1,
}
