package improveddiffusion

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/ddpm-runner/ddpm-runner/interop/torch"
	"github.com/ddpm-runner/ddpm-runner/networks"
)

// MismatchError is a checkpoint that does not fit the U-Net its flags describe: the first
// tensor whose name or shape differs, and what was expected.
type MismatchError struct {
	File   string
	Tensor string
	Msg    string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s does not match the flags: tensor %s: %s", e.File, e.Tensor, e.Msg)
}

// LoadInto gives the U-Net built in ctx under scope (in improved-diffusion's layout) the
// weights of sd, read from file, through networks.ImprovedDiffusionTensors. The checkpoint
// must hold exactly the U-Net's tensors: the first one, in the file's order, that the U-Net
// lacks or has in another shape, else the first the U-Net has and the file lacks, is a
// *MismatchError naming it and what was expected.
func LoadInto(ctx *context.Context, scope string, sd *torch.StateDict, file string) error {
	want, err := networks.ImprovedDiffusionTensors(ctx, scope)
	if err != nil {
		return err
	}
	byName := map[string]networks.TorchTensor{}
	for _, t := range want {
		byName[t.Name] = t
	}
	for _, name := range sd.Names {
		got := sd.Tensors[name]
		t, ok := byName[name]
		if !ok {
			return &MismatchError{File: file, Tensor: name, Msg: fmt.Sprintf("%v is in the checkpoint but not in the U-Net the flags describe "+
				"(%d tensors, e.g. %s)", got.Shape, len(want), want[0].Name)}
		}
		if !slices.Equal(got.Shape, t.Shape) {
			return &MismatchError{File: file, Tensor: name, Msg: fmt.Sprintf("shape %v in the checkpoint, the flags give %v", got.Shape, t.Shape)}
		}
		if !got.IsFloat() {
			return &MismatchError{File: file, Tensor: name, Msg: fmt.Sprintf("a %s tensor, want floating point", got.DType)}
		}
	}
	for _, t := range want {
		if _, ok := sd.Tensors[t.Name]; !ok {
			return &MismatchError{File: file, Tensor: t.Name, Msg: fmt.Sprintf("the U-Net the flags describe has it, %v; the checkpoint lacks it", t.Shape)}
		}
	}
	for _, t := range want {
		values, err := sd.Tensors[t.Name].Float32()
		if err != nil {
			return &MismatchError{File: file, Tensor: t.Name, Msg: err.Error()}
		}
		if err := t.Set(values); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	return nil
}
