package engine_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// dropoutSets make unetSpec's network improved-diffusion's layout with dropout, trained long
// enough to be checkpointed and interrupted.
var dropoutSets = []string{"network.norm=group", "network.res_blocks=1", "network.dropout=0.3",
	"train.steps=12", "train.checkpoint_every=4"}

// TestDropoutRerunsAndResumesBitIdentical: dropout's masks come from the (seed, step)
// streams, so a rerun of the same trial, and a run interrupted and resumed, log the same
// losses bit for bit; they differ from the losses without dropout (the masks act) and with
// another seed.
func TestDropoutRerunsAndResumesBitIdentical(t *testing.T) {
	h := newHarness(t)
	text := unetSpec(t)
	run := func(sets ...string) []float64 {
		out := h.run(h.jobs(text, append(slices.Clone(dropoutSets), sets...)...)[0])
		if out.Status != results.StatusFinished {
			t.Fatalf("%v: %s: %v", sets, out.Status, out.Err)
		}
		return h.losses(out.RunID)
	}
	want := run()
	sameHistory(t, "rerun", run(), want)
	// The blocks' last convolutions start at zero, so the masks show in the loss from the
	// steps after the first updates.
	last := len(want) - 1
	if l := run("network.dropout=0"); l[last] == want[last] {
		t.Errorf("last loss %v with dropout 0.3 and without: dropout did nothing", l[last])
	}
	if l := run("seeds=[1]"); l[last] == want[last] {
		t.Errorf("last loss %v with seeds 0 and 1", l[last])
	}

	ctx, cancel := context.WithCancel(context.Background())
	first := engine.Run(ctx, h.jobs(text, dropoutSets...)[0], engine.Options{Store: h.store, Progress: cancelOnWrite{cancel}})
	cancel()
	if first.Status != results.StatusInterrupted {
		t.Fatalf("first leg %s: %v", first.Status, first.Err)
	}
	res := engine.Resume(context.Background(), h.jobs(text, dropoutSets...)[0], engine.Options{Store: h.store}, first.RunID)
	if res.Status != results.StatusFinished {
		t.Fatalf("resume: %s: %v", res.Status, res.Err)
	}
	got := h.losses(first.RunID)
	sameHistory(t, "interrupted and resumed", got, want)
	if math.IsNaN(got[len(got)-1]) {
		t.Fatal("NaN loss")
	}
}
