package networks

import (
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestSizeCountsTheParameters builds each network in a GoMLX context and compares the
// number of values in its variables with what Size says (the memory estimate relies on it).
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
	}{
		{"mlp", MLP{Hidden: []int{7, 5}, EmbedDim: 6}, 3, 3, nil},
		{"mlp skip learned variance", MLP{Hidden: []int{4}, EmbedDim: 4, Skip: true}, 2, 4, nil},
		{"unet", &UNet{Channels: 4, Mults: []int{1, 2}, H: 6, W: 6, C: 1}, 36, 36, nil},
		{"unet odd, three levels", &UNet{Channels: 3, Mults: []int{1, 2, 2}, H: 7, W: 5, C: 2}, 70, 140, nil},
		{"unet group norm", &UNet{Channels: 8, Mults: []int{1, 2, 2}, Norm: NormGroup, H: 7, W: 5, C: 1}, 35, 35, nil},
		{"mlp class-conditional", &MLP{Hidden: []int{5}, EmbedDim: 4, Classes: 3}, 3, 3,
			func(ctx *context.Context, x, ts *Node, outDim int) *Node {
				return (&MLP{Hidden: []int{5}, EmbedDim: 4, Classes: 3}).ApplyClass(ctx, x, ts, ts, outDim)
			}},
		{"unet class-conditional", &UNet{Channels: 4, Mults: []int{1, 2}, H: 6, W: 6, C: 1, Classes: 10}, 36, 36,
			func(ctx *context.Context, x, ts *Node, outDim int) *Node {
				return (&UNet{Channels: 4, Mults: []int{1, 2}, H: 6, W: 6, C: 1, Classes: 10}).ApplyClass(ctx, x, ts, ts, outDim)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.New()
			ctx.SetParam(plugins.ParamConv, plugins.ConvIm2col)
			net := tc.net.(interface {
				Apply(*context.Context, *Node, *Node, int) *Node
			})
			exec := context.MustNewExec(backend, ctx, func(ctx *context.Context, x, ts *Node) *Node {
				if tc.apply != nil {
					return tc.apply(ctx.In("model"), x, ts, tc.outDim)
				}
				return net.Apply(ctx.In("model"), x, ts, tc.outDim)
			})
			exec.MustExec(tensors.FromFlatDataAndDimensions(make([]float32, 2*tc.dim), 2, tc.dim), []int32{0, 1})
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
			if acts <= 0 {
				t.Errorf("activations per example %d", acts)
			}
		})
	}
}
