// Package inception is the Inception network behind the field's FID and Inception Score:
// exactly pytorch-fid's fid_inception_v3 (torchvision's InceptionV3 topology with 1008
// logits, BatchNorm eps 1e-3 on its running statistics, and the FID blocks' pooling: average
// pooling without the padded zeros in the A, C and first E blocks, max pooling in the last E
// block), run on a GoMLX backend, with pytorch-fid's preprocessing (bilinear resize to
// 299x299 as F.interpolate with align_corners=False, then 2x - 1). Weights come from the file
// pytorch-fid itself uses (Locate, Load); nothing is ever downloaded.
package inception

import "fmt"

// WeightsFile is the name of pytorch-fid's weights file, the same in its download URL and in
// torch hub's cache.
const WeightsFile = "pt_inception-2015-12-05-6726825d.pth"

// WeightsURL is where pytorch-fid publishes the weights (its FID_WEIGHTS_URL).
const WeightsURL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WeightsFile

// Logits is the number of classes of the network's classifier (1008, as the 2015 graph).
const Logits = 1008

// convLayer is one of torchvision's BasicConv2d: a convolution without bias, a BatchNorm
// (eps 1e-3) and a ReLU.
type convLayer struct {
	name           string
	cin, cout      int
	kh, kw, stride int
	ph, pw         int
}

// BatchNormEps is the eps of every BatchNorm of the network (torchvision's BasicConv2d).
const BatchNormEps = 1e-3

// block is one of the network's stages: the layers it owns, in the order the state dict
// lists them.
type block struct {
	name   string
	kind   byte // 's' stem, 'A', 'B', 'C', 'D', 'E' (torchvision's Inception blocks)
	layers []convLayer
}

func c(name string, cin, cout, kh, kw, stride, ph, pw int) convLayer {
	return convLayer{name: name, cin: cin, cout: cout, kh: kh, kw: kw, stride: stride, ph: ph, pw: pw}
}

func blockA(name string, in, pool int) block {
	p := name + "."
	return block{name, 'A', []convLayer{
		c(p+"branch1x1", in, 64, 1, 1, 1, 0, 0),
		c(p+"branch5x5_1", in, 48, 1, 1, 1, 0, 0),
		c(p+"branch5x5_2", 48, 64, 5, 5, 1, 2, 2),
		c(p+"branch3x3dbl_1", in, 64, 1, 1, 1, 0, 0),
		c(p+"branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1),
		c(p+"branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1),
		c(p+"branch_pool", in, pool, 1, 1, 1, 0, 0),
	}}
}

func blockB(name string, in int) block {
	p := name + "."
	return block{name, 'B', []convLayer{
		c(p+"branch3x3", in, 384, 3, 3, 2, 0, 0),
		c(p+"branch3x3dbl_1", in, 64, 1, 1, 1, 0, 0),
		c(p+"branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1),
		c(p+"branch3x3dbl_3", 96, 96, 3, 3, 2, 0, 0),
	}}
}

func blockC(name string, in, c7 int) block {
	p := name + "."
	return block{name, 'C', []convLayer{
		c(p+"branch1x1", in, 192, 1, 1, 1, 0, 0),
		c(p+"branch7x7_1", in, c7, 1, 1, 1, 0, 0),
		c(p+"branch7x7_2", c7, c7, 1, 7, 1, 0, 3),
		c(p+"branch7x7_3", c7, 192, 7, 1, 1, 3, 0),
		c(p+"branch7x7dbl_1", in, c7, 1, 1, 1, 0, 0),
		c(p+"branch7x7dbl_2", c7, c7, 7, 1, 1, 3, 0),
		c(p+"branch7x7dbl_3", c7, c7, 1, 7, 1, 0, 3),
		c(p+"branch7x7dbl_4", c7, c7, 7, 1, 1, 3, 0),
		c(p+"branch7x7dbl_5", c7, 192, 1, 7, 1, 0, 3),
		c(p+"branch_pool", in, 192, 1, 1, 1, 0, 0),
	}}
}

func blockD(name string, in int) block {
	p := name + "."
	return block{name, 'D', []convLayer{
		c(p+"branch3x3_1", in, 192, 1, 1, 1, 0, 0),
		c(p+"branch3x3_2", 192, 320, 3, 3, 2, 0, 0),
		c(p+"branch7x7x3_1", in, 192, 1, 1, 1, 0, 0),
		c(p+"branch7x7x3_2", 192, 192, 1, 7, 1, 0, 3),
		c(p+"branch7x7x3_3", 192, 192, 7, 1, 1, 3, 0),
		c(p+"branch7x7x3_4", 192, 192, 3, 3, 2, 0, 0),
	}}
}

func blockE(name string, in int) block {
	p := name + "."
	return block{name, 'E', []convLayer{
		c(p+"branch1x1", in, 320, 1, 1, 1, 0, 0),
		c(p+"branch3x3_1", in, 384, 1, 1, 1, 0, 0),
		c(p+"branch3x3_2a", 384, 384, 1, 3, 1, 0, 1),
		c(p+"branch3x3_2b", 384, 384, 3, 1, 1, 1, 0),
		c(p+"branch3x3dbl_1", in, 448, 1, 1, 1, 0, 0),
		c(p+"branch3x3dbl_2", 448, 384, 3, 3, 1, 1, 1),
		c(p+"branch3x3dbl_3a", 384, 384, 1, 3, 1, 0, 1),
		c(p+"branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 0),
		c(p+"branch_pool", in, 192, 1, 1, 1, 0, 0),
	}}
}

// blocks is fid_inception_v3 in torchvision's order (aux_logits=False, so no AuxLogits).
var blocks = []block{
	{"stem0", 's', []convLayer{
		c("Conv2d_1a_3x3", 3, 32, 3, 3, 2, 0, 0),
		c("Conv2d_2a_3x3", 32, 32, 3, 3, 1, 0, 0),
		c("Conv2d_2b_3x3", 32, 64, 3, 3, 1, 1, 1),
	}},
	{"stem1", 's', []convLayer{
		c("Conv2d_3b_1x1", 64, 80, 1, 1, 1, 0, 0),
		c("Conv2d_4a_3x3", 80, 192, 3, 3, 1, 0, 0),
	}},
	blockA("Mixed_5b", 192, 32),
	blockA("Mixed_5c", 256, 64),
	blockA("Mixed_5d", 288, 64),
	blockB("Mixed_6a", 288),
	blockC("Mixed_6b", 768, 128),
	blockC("Mixed_6c", 768, 160),
	blockC("Mixed_6d", 768, 160),
	blockC("Mixed_6e", 768, 192),
	blockD("Mixed_7a", 768),
	blockE("Mixed_7b", 1280),
	blockE("Mixed_7c", 2048),
}

// TensorSpec is one tensor of the weights file: its state-dict name and shape.
type TensorSpec struct {
	Name  string
	Shape []int
}

// bnParams are a BatchNorm's tensors, in the state dict's order.
var bnParams = []string{"weight", "bias", "running_mean", "running_var"}

// Expected lists every tensor fid_inception_v3's state dict holds, in its order, with its
// shape: per convolution its weight [cout, cin, kh, kw] and the BatchNorm's weight, bias,
// running mean and running variance [cout], then the classifier's fc.weight [1008, 2048] and
// fc.bias [1008]. A BatchNorm's num_batches_tracked, which newer PyTorch adds and which
// inference does not read, is not listed (Load accepts it).
func Expected() []TensorSpec {
	var out []TensorSpec
	for _, b := range blocks {
		for _, l := range b.layers {
			out = append(out, TensorSpec{l.name + ".conv.weight", []int{l.cout, l.cin, l.kh, l.kw}})
			for _, p := range bnParams {
				out = append(out, TensorSpec{l.name + ".bn." + p, []int{l.cout}})
			}
		}
	}
	return append(out, TensorSpec{"fc.weight", []int{Logits, 2048}}, TensorSpec{"fc.bias", []int{Logits}})
}

// ParameterCount is how many values the weights hold (the sum of Expected's sizes).
func ParameterCount() int {
	n := 0
	for _, t := range Expected() {
		n += numel(t.Shape)
	}
	return n
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func shapeString(s []int) string { return fmt.Sprint(s) }
