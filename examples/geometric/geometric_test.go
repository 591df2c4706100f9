package geometric_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	_ "github.com/ddpm-runner/ddpm-runner/examples/geometric"
	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// TestUsedFromASpec builds the example schedule from a spec, checks its betas, and trains
// a few steps with it, the way `runner run` would.
func TestUsedFromASpec(t *testing.T) {
	text := `name = "geo"
[schedule]
name = "geometric"
T = 30
beta_start = 1e-3
beta_end = 0.1
[network]
hidden = [16]
embed = 8
[train]
steps = 5
batch = 16
checkpoint_every = 0
[sample]
n = 10
`
	trials, err := spec.Parse("geo.toml", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	job, err := engine.Prepare(trials[0])
	if err != nil {
		t.Fatal(err)
	}
	b := job.Diffusion.Betas
	if math.Abs(b[0]-1e-3) > 1e-15 || math.Abs(b[29]-0.1) > 1e-15 || math.Abs(b[15]/b[14]-b[1]/b[0]) > 1e-12 {
		t.Errorf("betas %v are not geometric from 1e-3 to 0.1", b)
	}
	dir := t.TempDir()
	store, err := results.Open(filepath.Join(dir, "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	out := engine.Run(context.Background(), job, engine.Options{Store: store})
	if out.Status != results.StatusFinished {
		t.Fatalf("run %s: %v", out.Status, out.Err)
	}
	r, _ := store.Run(out.RunID)
	if r.Params["schedule.name"] != "geometric" || r.Params["schedule.beta_end"] != "0.1" {
		t.Errorf("recorded params %v", r.Params)
	}
}
