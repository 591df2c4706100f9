package networks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TorchTensor is one tensor of an openai/improved-diffusion UNetModel state_dict, as the
// runner's U-Net (improved-diffusion's layout, UNet.ResBlocks >= 1) holds it.
//
// The names map onto the variable scopes one-to-one (see unet_layout.go): the scope path
// with "/" read as ".", then the variable's PyTorch name. The layouts differ as follows:
//
//	conv3x3 weight [out, in, 3, 3]      -> kernel [9, in, out] (tap = 3*dy + dx)
//	conv bias, linear bias [out]        -> bias / biases [out]
//	linear weight [out, in]             -> weights [in, out] (time_embed, emb_layers)
//	conv2d 1x1 weight [out, in, 1, 1]   -> weights [in, out] (skip_connection)
//	conv1d 1x1 weight [out, in, 1]      -> weights [in, out] (attention's qkv, proj_out)
//	GroupNorm weight, bias [C]          -> scale, shift [C]
//	label_emb.weight [classes, emb]     -> class_embedding [classes + 1, emb]; the extra
//	                                       row ("no class", for classifier-free guidance)
//	                                       has no counterpart and is set to zero
//
// A learned variance needs no permutation: out.2's first C output channels are the mean
// part and the next C the variance part on both sides (see unet_layout.go).
type TorchTensor struct {
	Name     string // improved-diffusion's state_dict name, e.g. "input_blocks.1.0.in_layers.2.weight"
	Shape    []int  // its shape in PyTorch
	Variable *context.Variable
}

// ImprovedDiffusionTensors lists the variables of a U-Net in improved-diffusion's layout
// that was built in ctx under scope (the network's own scope, e.g. "/model"), each with the
// state_dict name and PyTorch shape that it corresponds to, in the order of their names. A
// variable under scope that has no counterpart is an error (the small layout has none).
func ImprovedDiffusionTensors(ctx *context.Context, scope string) ([]TorchTensor, error) {
	prefix := strings.TrimSuffix(scope, "/") + "/"
	var out []TorchTensor
	for v := range ctx.IterVariables() {
		if !strings.HasPrefix(v.Scope()+"/", prefix) {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(v.Scope(), prefix[:len(prefix)-1]), "/")
		t, err := torchTensor(rel, v)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b TorchTensor) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// torchTensor names one variable at scope rel (relative to the network's) as PyTorch does.
func torchTensor(rel string, v *context.Variable) (TorchTensor, error) {
	dims := v.Shape().Dimensions
	module := strings.ReplaceAll(rel, "/", ".")
	last := rel[strings.LastIndex(rel, "/")+1:]
	t := TorchTensor{Variable: v}
	switch v.Name() {
	case "kernel": // [9, in, out]
		t.Name, t.Shape = module+".weight", []int{dims[2], dims[1], 3, 3}
	case "bias", "biases", "shift":
		t.Name, t.Shape = module+".bias", slices.Clone(dims)
	case "scale":
		t.Name, t.Shape = module+".weight", slices.Clone(dims)
	case "weights": // [in, out]
		t.Name, t.Shape = module+".weight", []int{dims[1], dims[0]}
		switch last {
		case "skip_connection":
			t.Shape = append(t.Shape, 1, 1)
		case "qkv", "proj_out":
			t.Shape = append(t.Shape, 1)
		}
	case "class_embedding": // [classes + 1, emb]
		t.Name, t.Shape = "label_emb.weight", []int{dims[0] - 1, dims[1]}
	default:
		return t, fmt.Errorf("variable %s/%s has no improved-diffusion counterpart", rel, v.Name())
	}
	if !strings.HasPrefix(rel, "time_embed") && !strings.HasPrefix(rel, "input_blocks") && !strings.HasPrefix(rel, "middle_block") &&
		!strings.HasPrefix(rel, "output_blocks") && !strings.HasPrefix(rel, "out") && rel != "label_emb" {
		return t, fmt.Errorf("variable %s/%s has no improved-diffusion counterpart (not improved-diffusion's layout)", rel, v.Name())
	}
	return t, nil
}

// ToRunner converts values of the tensor in PyTorch's layout (row-major in t.Shape) to the
// variable's layout, or says why they do not fit.
func (t TorchTensor) ToRunner(values []float32) ([]float32, error) {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	if len(values) != n {
		return nil, fmt.Errorf("%s: %d values, want %v = %d", t.Name, len(values), t.Shape, n)
	}
	dims := t.Variable.Shape().Dimensions
	switch t.Variable.Name() {
	case "kernel": // [out, in, 3, 3] -> [9, in, out]
		cout, cin := t.Shape[0], t.Shape[1]
		out := make([]float32, n)
		for o := range cout {
			for i := range cin {
				for k := range 9 {
					out[(k*cin+i)*cout+o] = values[(o*cin+i)*9+k]
				}
			}
		}
		return out, nil
	case "weights": // [out, in, ...1] -> [in, out]
		cin, cout := dims[0], dims[1]
		out := make([]float32, n)
		for o := range cout {
			for i := range cin {
				out[i*cout+o] = values[o*cin+i]
			}
		}
		return out, nil
	case "class_embedding":
		return append(slices.Clone(values), make([]float32, dims[1])...), nil
	}
	return slices.Clone(values), nil
}

// Set gives the variable the tensor's values, given in PyTorch's layout.
func (t TorchTensor) Set(values []float32) error {
	ours, err := t.ToRunner(values)
	if err != nil {
		return err
	}
	return t.Variable.SetValue(tensors.FromFlatDataAndDimensions(ours, t.Variable.Shape().Dimensions...))
}
