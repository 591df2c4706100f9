package networks

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// replicaCase is the index of one fixture of testdata/gen_unet.py.
type replicaCase struct {
	Params       map[string]any `json:"params"`
	Image        [3]int         `json:"image"`
	OutChannels  int            `json:"out_channels"`
	Batch        int            `json:"batch"`
	Timesteps    []int32        `json:"timesteps"`
	Labels       []int32        `json:"labels"`
	Classes      int            `json:"classes"`
	X, Out       int            // offsets in the .bin
	TorchTensors []struct {
		Name   string `json:"name"`
		Shape  []int  `json:"shape"`
		Offset int    `json:"offset"`
	} `json:"tensors"`
}

func loadReplica(t *testing.T, stem string) (replicaCase, []float32) {
	t.Helper()
	raw, err := os.ReadFile(stem + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var c replicaCase
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(stem + ".bin")
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]float32, len(bin)/4)
	for i := range vals {
		vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(bin[4*i:]))
	}
	return c, vals
}

// TestUNetMatchesImprovedDiffusion loads the weights of improved-diffusion's own UNetModel
// (testdata/gen_unet.py: random weights, zero-initialised layers included) into the unet
// plugin built from the same options, through ImprovedDiffusionTensors, and compares the
// outputs on the same x_t and t: attention with several heads at two resolutions,
// scale-shift, 32 groups, two residual blocks per level, a learned variance (its two halves
// in improved-diffusion's channel order), time_scale, average pooling without resampling
// convolutions, and class labels with dropout declared (off outside training).
func TestUNetMatchesImprovedDiffusion(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	stems, _ := filepath.Glob("testdata/unet_*.json")
	if len(stems) < 4 {
		t.Fatalf("%d fixtures in testdata; run testdata/gen_unet.py", len(stems))
	}
	for _, path := range stems {
		stem := path[:len(path)-len(".json")]
		t.Run(filepath.Base(stem), func(t *testing.T) {
			c, vals := loadReplica(t, stem)
			built, err := plugins.Build(plugins.KindNetwork, "unet", c.Params)
			if err != nil {
				t.Fatal(err)
			}
			u := built.(*UNet)
			h, w, ch := c.Image[0], c.Image[1], c.Image[2]
			u.SetImageShape(h, w, ch)
			if err := u.CheckImageShape(h, w, ch); err != nil {
				t.Fatal(err)
			}
			if c.Classes > 0 {
				u.SetClasses(c.Classes)
			}
			dim, outDim := h*w*ch, h*w*c.OutChannels
			ctx := context.New()
			ctx.SetParam(plugins.ParamConv, plugins.ConvIm2col)
			exec := context.MustNewExec(backend, ctx, func(ctx *context.Context, x, ts, labels *Node) *Node {
				if c.Classes > 0 {
					return u.ApplyClass(ctx.In("model"), x, ts, labels, outDim)
				}
				return u.Apply(ctx.In("model"), x, ts, outDim)
			})
			x := tensors.FromFlatDataAndDimensions(slices.Clone(vals[c.X:c.X+c.Batch*dim]), c.Batch, dim)
			labels := c.Labels
			if labels == nil {
				labels = make([]int32, c.Batch)
			}
			run := func() []float32 {
				return tensors.MustCopyFlatData[float32](exec.MustExec(x, c.Timesteps, labels)[0])
			}
			run() // creates the variables
			ours, err := ImprovedDiffusionTensors(ctx, "/model")
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]TorchTensor{}
			for _, tt := range ours {
				byName[tt.Name] = tt
			}
			if len(ours) != len(c.TorchTensors) {
				t.Errorf("%d variables, improved-diffusion's state_dict has %d tensors", len(ours), len(c.TorchTensors))
			}
			for _, ref := range c.TorchTensors {
				tt, ok := byName[ref.Name]
				if !ok {
					t.Fatalf("improved-diffusion's %s %v has no variable", ref.Name, ref.Shape)
				}
				if !slices.Equal(tt.Shape, ref.Shape) {
					t.Fatalf("%s: shape %v, improved-diffusion's %v", ref.Name, tt.Shape, ref.Shape)
				}
				n := 1
				for _, d := range ref.Shape {
					n *= d
				}
				if err := tt.Set(vals[ref.Offset : ref.Offset+n]); err != nil {
					t.Fatal(err)
				}
			}
			got := run()
			want := vals[c.Out : c.Out+c.Batch*outDim]
			if len(got) != len(want) {
				t.Fatalf("%d outputs, want %d", len(got), len(want))
			}
			var worst float64
			for i := range got {
				worst = max(worst, math.Abs(float64(got[i])-float64(want[i])))
			}
			if worst > 1e-4 {
				t.Errorf("largest difference from improved-diffusion's output %.3g (tolerance 1e-4)", worst)
			}
			t.Logf("largest difference %.3g over %d outputs", worst, len(got))
		})
	}
}
