package engine

import (
	"github.com/gomlx/gomlx/backends"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// TestBatchSourceDrawsAheadTheSameBatches: with the default (uniform) sampler the batch
// source draws ahead, and every step's inputs, in order or after a skip, equal the batch
// drawn in line; with the loss-aware sampler it does not draw ahead.
func TestBatchSourceDrawsAheadTheSameBatches(t *testing.T) {
	backend := goBackend(t)
	j := prepareTiny(t)
	src := newBatchSource(backend, j)
	defer src.close()
	if !src.ahead {
		t.Fatal("uniform timesteps: the batch source does not draw ahead")
	}
	ref := newBatchBuffers(j.Trial.Settings.Train.Batch, j.Data.Dim())
	for _, step := range []int{1, 2, 3, 7, 8, 3} {
		got, bb, err := src.next(step)
		if err != nil {
			t.Fatal(err)
		}
		want := j.batchInputs(step, ref)
		for i := range want {
			if !sameTensor(got[i], want[i]) {
				t.Fatalf("step %d input %d differs from the batch drawn in line", step, i)
			}
		}
		if !slices.Equal(bb.ts, ref.ts) {
			t.Fatalf("step %d: the buffers handed out do not hold its timesteps", step)
		}
	}
	lossAware := prepareTiny(t, `loss.timesteps="importance"`)
	if s := newBatchSource(backend, lossAware); s.ahead {
		t.Error("loss-aware timesteps: the batch source draws ahead, but its draws depend on the last step's losses")
	}
}

// goBackend is a go backend finalized when the test ends.
func goBackend(t *testing.T) backends.Backend {
	t.Helper()
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(backend.Finalize)
	return backend
}

// prepareTiny prepares a small 2-D job.
func prepareTiny(t *testing.T, sets ...string) *Job {
	t.Helper()
	trials, err := spec.Parse("tiny.toml", []byte(`[data]
name = "swissroll"
[schedule]
T = 24
[network]
hidden = [16]
embed = 8
[train]
batch = 16
`), sets)
	if err != nil {
		t.Fatal(err)
	}
	j, err := Prepare(trials[0])
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func sameTensor(a, b *tensors.Tensor) bool {
	if !a.Shape().Equal(b.Shape()) {
		return false
	}
	switch a.DType().String() {
	case "Int32":
		return slices.Equal(tensors.MustCopyFlatData[int32](a), tensors.MustCopyFlatData[int32](b))
	default:
		return slices.Equal(tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b))
	}
}

// panicAt is a dataset whose Train panics at one step.
type panicAt struct {
	plugins.Dataset
	step int
}

func (p panicAt) Train(seed uint64, step, n int, dst []float32) {
	if step == p.step {
		panic("broken dataset")
	}
	p.Dataset.Train(seed, step, n, dst)
}

// TestBatchSourceReportsAPanicAhead: a panic while a batch is drawn ahead comes back as that
// step's error instead of ending the process.
func TestBatchSourceReportsAPanicAhead(t *testing.T) {
	backend := goBackend(t)
	j := prepareTiny(t)
	j.Data = panicAt{Dataset: j.Data, step: 2}
	src := newBatchSource(backend, j)
	defer src.close()
	if _, _, err := src.next(1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.next(2); err == nil || !strings.Contains(err.Error(), "broken dataset") {
		t.Fatalf("step 2: err %v, want the dataset's panic", err)
	}
}
