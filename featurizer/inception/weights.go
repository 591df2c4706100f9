package inception

import (
	"fmt"
	"math"
	"strings"
)

// Tensor is one named tensor of a state dict: its shape and its values in row-major order.
type Tensor struct {
	Shape []int
	Data  []float32
}

// StateDict is a state dict's tensors by name, with the names in the file's order (used to
// name the first unexpected tensor).
type StateDict struct {
	Names   []string
	Tensors map[string]Tensor
}

// WeightsError is a weights file that cannot be the FID Inception's: missing, unreadable,
// truncated, or another network's. The command line exits with status 2 on it.
type WeightsError struct{ Msg string }

func (e *WeightsError) Error() string { return e.Msg }

// conv is one BasicConv2d ready to run: the kernel as [kh, kw, cin, cout] with the BatchNorm
// folded in, and the bias. In inference the BatchNorm is the affine y = x*scale + shift per
// output channel, so conv(x, k)*scale + shift = conv(x, k*scale) + shift: the scale goes into
// the kernel (each product rounded once, from float64) and the shift is the bias, which saves
// a pass over every convolution's output.
type conv struct {
	layer  convLayer
	kernel []float32
	bias   []float32
}

// Weights are the network's tensors, checked against fid_inception_v3's layout and laid out
// for GoMLX, with the sha256 of the file they came from.
type Weights struct {
	// SHA256 is the hex sha256 of the weights file: recorded with every value computed from
	// these weights, so that values from different weights are never compared.
	SHA256 string
	convs  map[string]*conv
	fcW    []float32 // [2048, 1008]
	fcB    []float32
}

// ID names the weights as values record them: "fid_inception_v3@" and the first 12 hex digits
// of the file's sha256.
func (w *Weights) ID() string {
	short := w.SHA256
	if len(short) > 12 {
		short = short[:12]
	}
	return "fid_inception_v3@" + short
}

// FromStateDict checks a state dict against fid_inception_v3's, tensor by tensor in the
// network's order (every tensor present with its shape, none left over but BatchNorms'
// num_batches_tracked, running variances not negative), names the first mismatch, and lays
// the tensors out for the network. what names the file in errors.
func FromStateDict(sd StateDict, sha256, what string) (*Weights, error) {
	bad := func(format string, args ...any) error {
		return &WeightsError{Msg: fmt.Sprintf("%s is not pytorch-fid's Inception weights (%s): ", what, WeightsFile) +
			fmt.Sprintf(format, args...)}
	}
	want := map[string]bool{}
	for _, t := range Expected() {
		want[t.Name] = true
		got, ok := sd.Tensors[t.Name]
		if !ok {
			return nil, bad("it has no tensor %s (shape %s)", t.Name, shapeString(t.Shape))
		}
		if !sameShape(got.Shape, t.Shape) {
			return nil, bad("tensor %s has shape %s, the network's is %s", t.Name, shapeString(got.Shape), shapeString(t.Shape))
		}
		if len(got.Data) != numel(t.Shape) {
			return nil, bad("tensor %s holds %d values for shape %s", t.Name, len(got.Data), shapeString(t.Shape))
		}
	}
	for _, name := range sd.Names {
		if !want[name] && !strings.HasSuffix(name, ".bn.num_batches_tracked") {
			return nil, bad("it holds tensor %s (shape %s), which the network does not have", name, shapeString(sd.Tensors[name].Shape))
		}
	}
	w := &Weights{SHA256: sha256, convs: map[string]*conv{}}
	for _, b := range blocks {
		for _, l := range b.layers {
			get := func(p string) []float32 { return sd.Tensors[l.name+p].Data }
			cv := &conv{layer: l, kernel: make([]float32, l.cout*l.cin*l.kh*l.kw), bias: make([]float32, l.cout)}
			gamma, beta, mean, variance := get(".bn.weight"), get(".bn.bias"), get(".bn.running_mean"), get(".bn.running_var")
			scale := make([]float64, l.cout)
			for o := range l.cout {
				if !(variance[o] >= 0) {
					return nil, bad("tensor %s.bn.running_var[%d] is %g; a variance is not negative", l.name, o, variance[o])
				}
				scale[o] = float64(gamma[o]) / math.Sqrt(float64(variance[o])+BatchNormEps)
				cv.bias[o] = float32(float64(beta[o]) - float64(mean[o])*scale[o])
			}
			src := get(".conv.weight")
			for o := range l.cout {
				for i := range l.cin {
					for y := range l.kh {
						for x := range l.kw {
							cv.kernel[((y*l.kw+x)*l.cin+i)*l.cout+o] = float32(float64(src[((o*l.cin+i)*l.kh+y)*l.kw+x]) * scale[o])
						}
					}
				}
			}
			w.convs[l.name] = cv
		}
	}
	fc := sd.Tensors["fc.weight"].Data
	w.fcW = make([]float32, 2048*Logits)
	for o := range Logits {
		for i := range 2048 {
			w.fcW[i*Logits+o] = fc[o*2048+i]
		}
	}
	w.fcB = append([]float32(nil), sd.Tensors["fc.bias"].Data...)
	return w, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// UnbiasedLogits are the classifier's logits without its bias, pool3 (count x 2048 values)
// times the weight, in float64: what the Inception Score of Salimans et al. (improved-gan's
// inception_score, softmax/logits/MatMul of the 2015 graph), guided-diffusion's evaluator and
// torch-fidelity (its logits_unbiased) take the softmax of. count x Logits values.
func (w *Weights) UnbiasedLogits(pool3 []float32) []float64 {
	n := len(pool3) / 2048
	out := make([]float64, n*Logits)
	for i := range n {
		row := out[i*Logits : (i+1)*Logits]
		for k, x := range pool3[i*2048 : (i+1)*2048] {
			if x == 0 {
				continue
			}
			xf := float64(x)
			wk := w.fcW[k*Logits : (k+1)*Logits]
			for o := range row {
				row[o] += xf * float64(wk[o])
			}
		}
	}
	return out
}
