package networks

import (
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestSizeCountsTheParameters builds each network in a GoMLX context and compares the
// number of values in its variables with what Size says (the memory estimate and --dry-run
// rely on it). The papers' CIFAR-10 U-Nets must also count what improved-diffusion's
// UNetModel counts (sum of p.numel() over its parameters, in PyTorch).
func TestSizeCountsTheParameters(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		net         interface{ Size(int, int) (int64, int64) }
		dim, outDim int
		apply       func(ctx *context.Context, x, ts *Node, outDim int) *Node
		want        int64 // the reference's count, where there is one
	}{
		{"mlp", MLP{Hidden: []int{7, 5}, EmbedDim: 6}, 3, 3, nil, 0},
		{"mlp skip learned variance", MLP{Hidden: []int{4}, EmbedDim: 4, Skip: true}, 2, 4, nil, 0},
		{"unet", &UNet{Channels: 4, Mults: []int{1, 2}, H: 6, W: 6, C: 1}, 36, 36, nil, 0},
		{"unet odd, three levels", &UNet{Channels: 3, Mults: []int{1, 2, 2}, H: 7, W: 5, C: 2}, 70, 140, nil, 0},
		{"unet group norm", &UNet{Channels: 8, Mults: []int{1, 2, 2}, Norm: NormGroup, H: 7, W: 5, C: 1}, 35, 35, nil, 0},
		{"mlp class-conditional", &MLP{Hidden: []int{5}, EmbedDim: 4, Classes: 3}, 3, 3,
			func(ctx *context.Context, x, ts *Node, outDim int) *Node {
				return (&MLP{Hidden: []int{5}, EmbedDim: 4, Classes: 3}).ApplyClass(ctx, x, ts, ts, outDim)
			}, 0},
		{"unet class-conditional", &UNet{Channels: 4, Mults: []int{1, 2}, H: 6, W: 6, C: 1, Classes: 10}, 36, 36,
			func(ctx *context.Context, x, ts *Node, outDim int) *Node {
				return (&UNet{Channels: 4, Mults: []int{1, 2}, H: 6, W: 6, C: 1, Classes: 10}).ApplyClass(ctx, x, ts, ts, outDim)
			}, 0},
		{"unet small layout, groups, scale-shift, dropout", &UNet{Channels: 8, Mults: []int{1, 2}, Norm: NormGroup, Groups: 4, ScaleShift: true, Dropout: 0.1, H: 6, W: 6, C: 1}, 36, 72, nil, 0},
		{"improved layout, one block", &UNet{Channels: 8, Mults: []int{1, 2}, Norm: NormGroup, ResBlocks: 1, H: 8, W: 8, C: 3}, 192, 192, nil, 0},
		{"improved layout, attention, heads, scale-shift, learned variance",
			&UNet{Channels: 8, Mults: []int{1, 2, 2}, Norm: NormGroup, ResBlocks: 2, Attention: []int{4, 2}, Heads: 2, ScaleShift: true, Dropout: 0.1, Groups: 4, H: 8, W: 8, C: 3}, 192, 384, nil, 0},
		{"improved layout, pooling, odd", &UNet{Channels: 6, Mults: []int{1, 2}, Norm: NormGroup, ResBlocks: 1, PoolResample: true, Attention: []int{5}, H: 10, W: 10, C: 1}, 100, 100, nil, 0},
		{"improved layout, class-conditional", &UNet{Channels: 4, Mults: []int{1, 2}, Norm: NormGroup, ResBlocks: 1, H: 4, W: 4, C: 1, Classes: 10}, 16, 16,
			func(ctx *context.Context, x, ts *Node, outDim int) *Node {
				return (&UNet{Channels: 4, Mults: []int{1, 2}, Norm: NormGroup, ResBlocks: 1, H: 4, W: 4, C: 1, Classes: 10}).ApplyClass(ctx, x, ts, ts, outDim)
			}, 0},
		{"DDPM CIFAR-10", &UNet{Channels: 128, Mults: []int{1, 2, 2, 2}, Norm: NormGroup, ResBlocks: 2, Attention: []int{16}, Heads: 1,
			Dropout: 0.1, Groups: 32, H: 32, W: 32, C: 3}, 3072, 3072, nil, 35_746_307},
		{"Improved DDPM CIFAR-10", &UNet{Channels: 128, Mults: []int{1, 2, 2, 2}, Norm: NormGroup, ResBlocks: 3, Attention: []int{16, 8}, Heads: 4,
			ScaleShift: true, Dropout: 0.3, Groups: 32, H: 32, W: 32, C: 3}, 3072, 6144, nil, 52_546_438},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.New()
			ctx.SetParam(plugins.ParamConv, plugins.ConvIm2col)
			net := tc.net.(interface {
				Apply(*context.Context, *Node, *Node, int) *Node
			})
			// Building the graph creates the variables; nothing needs to run.
			g := NewGraph(backend, "size")
			x := Parameter(g, "x", shapes.Make(dtypes.Float32, 2, tc.dim))
			ts := Parameter(g, "t", shapes.Make(dtypes.Int32, 2))
			if tc.apply != nil {
				tc.apply(ctx.In("model"), x, ts, tc.outDim)
			} else {
				net.Apply(ctx.In("model"), x, ts, tc.outDim)
			}
			var count int64
			for v := range ctx.IterVariables() {
				if strings.HasPrefix(v.Scope(), "/model") { // not the context's RNG state
					count += int64(v.Shape().Size())
				}
			}
			want, acts := tc.net.Size(tc.dim, tc.outDim)
			if count != want {
				t.Errorf("Size says %d parameters, the built network has %d", want, count)
			}
			if tc.want != 0 && count != tc.want {
				t.Errorf("the built network has %d parameters, the reference's %d", count, tc.want)
			}
			if acts <= 0 {
				t.Errorf("activations per example %d", acts)
			}
		})
	}
}
