package engine_test

import (
	"path/filepath"
	"testing"

	gctx "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// TestCheckpointCapAdmitsRealCheckpoints: the size cap that runner sample puts on a
// parent's checkpoint (before its fixed slack) is above what the tensors of a real
// checkpoint take, for an MLP with several EMAs, a U-Net, and a class-conditional MLP; a
// cap below that would refuse honest parents.
func TestCheckpointCapAdmitsRealCheckpoints(t *testing.T) {
	for _, c := range []struct {
		name string
		text func(*testing.T) string
		sets []string
	}{
		{"mlp", func(*testing.T) string { return tiny }, []string{"train.ema=[0.9, 0.99, 0.999]", "network.hidden=[256, 256]"}},
		{"unet", unetSpec, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			j := h.jobs(c.text(t), c.sets...)[0]
			out := h.run(j)
			if out.Status != results.StatusFinished {
				t.Fatalf("%s %v", out.Status, out.Err)
			}
			ctx := gctx.New()
			handler, err := checkpoints.Build(ctx).Dir(filepath.Join(h.dir, "runs", itoa(out.RunID), "checkpoint")).Done()
			if err != nil {
				t.Fatal(err)
			}
			var bytes int64
			for _, v := range handler.LoadedVariables() {
				bytes += int64(v.Memory())
			}
			if limit := engine.CheckpointTensorCap(j); bytes > limit || bytes < limit/4 {
				t.Errorf("the checkpoint's tensors take %d bytes; the cap allows %d (want at least that, and within 4x)", bytes, limit)
			}
			t.Logf("tensors %d bytes, cap %d", bytes, engine.CheckpointTensorCap(j))
		})
	}
}
