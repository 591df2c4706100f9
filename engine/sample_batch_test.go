package engine

import (
	"fmt"
	"math"

	"context"
	"github.com/gomlx/gomlx/backends"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"slices"
	"testing"
)

// TestSampleBatchesKeepTheirStreams checks [sample] batch: 0 and a batch of at least n draw
// exactly the samples of the unbatched chain; a smaller batch draws every sample (a last,
// shorter batch included) with the same NFE, deterministically, from streams of its own.
func TestSampleBatchesKeepTheirStreams(t *testing.T) {
	const n = 5
	draw := func(batch int) ([]float32, int) {
		t.Helper()
		j, evalCtx, b := sampleJob(t, "sample.batch", batch)
		x, nfe, err := Sample(context.Background(), b, evalCtx, j, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(x) != n*j.Data.Dim() {
			t.Fatalf("batch %d: %d values, want %d", batch, len(x), n*j.Data.Dim())
		}
		return x, nfe
	}
	whole, nfe := draw(0)
	for _, batch := range []int{n, n + 3} {
		if x, k := draw(batch); !slices.Equal(x, whole) || k != nfe {
			t.Errorf("batch %d >= n: samples or NFE (%d, want %d) differ from the unbatched chain", batch, k, nfe)
		}
	}
	batched, k := draw(2) // batches of 2, 2 and 1
	if k != nfe {
		t.Errorf("batch 2: NFE %d, want %d", k, nfe)
	}
	if slices.Equal(batched, whole) {
		t.Error("batch 2 drew the unbatched chain's samples; its batches should have streams of their own")
	}
	if d := len(batched) / n; slices.Equal(batched[:2*d], batched[2*d:4*d]) {
		t.Error("batch 2: the first two batches drew the same samples; each batch should have streams of its own")
	}
	if again, _ := draw(2); !slices.Equal(again, batched) {
		t.Error("batch 2 is not deterministic")
	}
}

// sampleJob prepares a small 2-D job with [sample] batch set and a fresh context for its
// weights (initialised by the first graph that uses them).
func sampleJob(t *testing.T, key string, batch int) (*Job, *gctx.Context, backends.Backend) {
	t.Helper()
	j := prepareTiny(t, fmt.Sprintf("%s=%d", key, batch), "sample.name=ddim", "sample.steps=4")
	b := goBackend(t)
	ctx := gctx.New().Checked(false)
	ctx.SetParam(plugins.ParamConv, plugins.ConvIm2col)
	if err := ctx.SetRNGStateFromSeed(1); err != nil {
		t.Fatal(err)
	}
	return j, ctx, b
}

// TestEvalBatchKeepsTheBound checks [eval] batch: the bound on the same examples is the same
// whether the network takes them all at once or a few at a time (the noise is the bound's).
func TestEvalBatchKeepsTheBound(t *testing.T) {
	x := make([]float32, 7*2)
	for i := range x {
		x[i] = float32(i%5)/5 - 0.4
	}
	bound := func(batch int) BoundResult {
		t.Helper()
		j, evalCtx, b := sampleJob(t, "eval.batch", batch)
		r, err := BoundTerms(context.Background(), b, evalCtx, j, x)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	whole := bound(0)
	for _, batch := range []int{3, 7, 100} {
		got := bound(batch)
		if math.Abs(got.Terms-whole.Terms) > 1e-6*math.Abs(whole.Terms) || math.Abs(got.Decoder-whole.Decoder) > 1e-6*math.Abs(whole.Decoder) ||
			len(got.PerExample) != len(whole.PerExample) {
			t.Errorf("eval.batch %d: bound %+v, want %+v", batch, got, whole)
		}
	}
}
