package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// absentImages is a dataset plugin whose files are never there and that declares its shape
// from its parameters, as a dataset read from files does for --dry-run.
func init() {
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindDataset, Name: "test_absent_images",
		Doc: "test only: RGB images whose files are absent",
		Params: []plugins.Param{
			{Name: "size", Type: plugins.Int, Default: 32, Min: plugins.Bound(1), Max: plugins.Bound(64), Doc: "side"},
		},
		New: func(plugins.Values) (plugins.Dataset, error) {
			return nil, errors.New("test_absent_images: no files at /nowhere")
		},
		Shape: func(v plugins.Values) (plugins.DataShape, error) {
			n := v.Int("size")
			return plugins.DataShape{Dim: n * n * 3, Discrete: true, H: n, W: n, C: 3, Classes: 10}, nil
		},
	})
}

// TestDryPrepareDescribesAbsentData: without its files, a dataset that declares its shape is
// described by it (PrepareDry), so that the DDPM CIFAR-10 U-Net is sized, at the count of
// improved-diffusion's UNetModel, before the data is fetched; a real run is refused.
func TestDryPrepareDescribesAbsentData(t *testing.T) {
	trials, err := spec.Parse("ddpm.toml", []byte(`name = "ddpm"
[data]
name = "test_absent_images"
[schedule]
name = "linear"
T = 1000
[network]
name = "unet"
channels = 128
mults = [1, 2, 2, 2]
norm = "group"
groups = 32
res_blocks = 2
attention = [16]
dropout = 0.1
[train]
batch = 128
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Prepare(trials[0]); err == nil || !strings.Contains(err.Error(), "no files at /nowhere") {
		t.Errorf("Prepare without the files: %v", err)
	}
	j, err := engine.PrepareDry(trials[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(j.DataAbsent, "no files at /nowhere") {
		t.Errorf("DataAbsent = %q", j.DataAbsent)
	}
	e := engine.EstimateMemory(j)
	if !e.NetworkKnown || e.Params != 35_746_307 {
		t.Errorf("params %d (known %v), want 35,746,307", e.Params, e.NetworkKnown)
	}
	if e.Phases["train"] < 4<<30 {
		t.Errorf("train phase estimate %.3g GiB at batch 128: too small for the 35.7M U-Net's activations", e.Phases["train"]/(1<<30))
	}
	t.Logf("estimate %s (%s), train %s", engine.FormatBytes(e.Bytes), e.Phase, engine.FormatBytes(e.Phases["train"]))
}
