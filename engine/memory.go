package engine

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// MemoryEstimate is what a trial is expected to need at its peak, in bytes, and the phase
// that peaks. It errs on the high side: a refused run that would have fitted costs a flag
// (--max-memory), a run killed by the kernel halfway costs the run.
type MemoryEstimate struct {
	Bytes  float64
	Phase  string             // load, train, sample or bound
	Phases map[string]float64 // each phase's estimate
	// NetworkKnown is false when the network plugin does not say its size
	// (plugins.SizedNetwork): the estimate then counts the data only.
	NetworkKnown bool
	// Params is the network's number of parameters when NetworkKnown.
	Params int64
}

// baseBytes is what a run takes before any tensor: the Go runtime, GoMLX, compiled graphs.
const baseBytes = 300 << 20

// graphFactor covers what the estimate of activations misses on the pure-Go backend
// (buffers of the compiled graph that are not freed until its end, gradient tensors next to
// every activation).
const graphFactor = 3

// EstimateMemory estimates the peak memory of running a prepared trial. Float64 arithmetic,
// so that absurd sizes give absurd estimates rather than overflow.
func EstimateMemory(j *Job) MemoryEstimate {
	const f32 = 4
	batch := float64(j.Trial.Settings.Train.Batch)
	dim := float64(j.Data.Dim())
	n := float64(j.Trial.Settings.Sample.N)
	m := float64(j.Trial.Settings.Eval.N)
	if j.during != nil { // the evaluations during training may draw more
		n, m = max(n, float64(j.during.n)), max(m, float64(j.during.n))
	}
	outDim := j.Data.Dim() * j.Diffusion.OutputMultiplier()
	var params, acts float64
	var count int64
	known := false
	if sn, ok := j.Net.(plugins.SizedNetwork); ok {
		p, a := sn.Size(j.Data.Dim(), outDim)
		params, acts, known, count = float64(p), float64(a), true, p
	}
	// The dataset's own memory is held throughout; building it (decoding image files at
	// full size) may have taken more for a moment.
	var resident, loading float64
	if sd, ok := j.Data.(plugins.SizedDataset); ok {
		r, l := sd.MemoryBytes()
		resident, loading = float64(r), float64(l)
	}
	load := resident + loading
	// Weights, gradients, two Adam moments, the EMA, and the evaluation copy.
	weights := 6*params*f32 + resident
	train := weights + batch*(acts*graphFactor+8*dim)*f32
	// The sampler runs the chain on a batch of samples at a time ([sample] batch; all n when
	// 0): x, noise, the network's forward pass and the step's output; it keeps all n samples.
	sample := weights + n*(acts+6*dim)*f32 + m*2*dim*f32
	if b := float64(j.Trial.Settings.Sample.Batch); b > 0 && b < n {
		sample = weights + b*(acts+6*dim)*f32 + n*dim*f32 + m*2*dim*f32
	}
	// The bound runs on up to diffusion.BoundBatch held-out examples at a time, and the metrics keep
	// samples, held-out and training examples.
	bound := weights + min(m, diffusion.BoundBatch)*(acts+6*dim)*f32 + (n+2*m)*dim*f32
	if b := float64(j.Trial.Settings.Eval.Batch); b > 0 && b < min(m, diffusion.BoundBatch) {
		bound = weights + b*acts*f32 + min(m, diffusion.BoundBatch)*6*dim*f32 + (n+2*m)*dim*f32
	}
	if k := j.Trial.Kind; k == spec.KindSample || k == spec.KindImported {
		train = weights // a trial that samples another run's weights never trains
	}
	if len(j.Metrics) == 0 {
		bound = weights // no metric: neither the bound nor the metrics' copies of the data
	}
	e := MemoryEstimate{Phases: map[string]float64{"load": load, "train": train, "sample": sample, "bound": bound}, NetworkKnown: known, Params: count}
	for _, ph := range []string{"load", "train", "sample", "bound"} {
		if v := e.Phases[ph]; v > e.Bytes {
			e.Bytes, e.Phase = v, ph
		}
	}
	e.Bytes += baseBytes
	return e
}

// AvailableMemory is the memory a run may use on this machine: the smaller of the memory
// the kernel reports available now (MemAvailable) and the cgroup's limit. ok is false when
// neither can be read.
func AvailableMemory() (bytes float64, source string, ok bool) {
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemAvailable:" {
				if kb, err := strconv.ParseFloat(fields[1], 64); err == nil {
					bytes, source, ok = kb*1024, "available memory (MemAvailable)", true
				}
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil && (!ok || v < bytes) {
			bytes, source, ok = v, "the cgroup's memory.max", true
		}
	}
	return bytes, source, ok
}

// FormatBytes writes a byte count for people: 1.5 GiB, 300 MiB.
func FormatBytes(b float64) string {
	switch {
	case b >= 1<<40:
		return fmt.Sprintf("%.3g TiB", b/(1<<40))
	case b >= 1<<30:
		return fmt.Sprintf("%.3g GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.3g MiB", b/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", b/(1<<10))
}

// ParseBytes reads a size such as 512MiB, 8GiB, 2G, 1.5TB or a plain number of bytes.
func ParseBytes(s string) (float64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v != v {
		return 0, fmt.Errorf("%q is not a size (want for example 512MiB, 8GiB or 2G)", s)
	}
	return v * mult, nil
}
