package inception

import "fmt"

// linearTaps are, for each output index of a bilinear resize along one axis, the two input
// indices it reads and their weights.
type linearTaps struct {
	i0, i1 []int
	l0, l1 []float32
}

// taps computes the source indices and weights of F.interpolate(mode="bilinear",
// align_corners=False) from in to out samples as PyTorch's CPU kernel does
// (compute_source_index_and_lambda in ATen's UpSample.h): the ratio in/out in float32, the
// source position ratio * (dst + 0.5) - 0.5 in double (its accumulate type), clamped at 0,
// and the weights lambda1 = position - index rounded to float32, lambda0 = 1 - lambda1 in
// float32. No antialiasing when shrinking.
func taps(in, out int) linearTaps {
	t := linearTaps{i0: make([]int, out), i1: make([]int, out), l0: make([]float32, out), l1: make([]float32, out)}
	ratio := float64(float32(in) / float32(out))
	for d := range out {
		src := max(ratio*(float64(d)+0.5)-0.5, 0)
		i0 := int(src)
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		l1 := float32(src - float64(i0))
		t.i0[d], t.i1[d], t.l0[d], t.l1[d] = i0, i1, 1-l1, l1
	}
	return t
}

// Resize resizes one image [h, w, c] (channels last) to [oh, ow, c] as F.interpolate(x,
// size=(oh, ow), mode="bilinear", align_corners=False) does on the CPU in float32.
func Resize(img []float32, h, w, c, oh, ow int) []float32 {
	ty, tx := taps(h, oh), taps(w, ow)
	out := make([]float32, oh*ow*c)
	for y := range oh {
		r0, r1 := ty.i0[y]*w, ty.i1[y]*w
		a0, a1 := ty.l0[y], ty.l1[y]
		for x := range ow {
			c0, c1 := tx.i0[x], tx.i1[x]
			b0, b1 := tx.l0[x], tx.l1[x]
			for ch := range c {
				v00, v01 := img[(r0+c0)*c+ch], img[(r0+c1)*c+ch]
				v10, v11 := img[(r1+c0)*c+ch], img[(r1+c1)*c+ch]
				top := float32(b0*v00) + float32(b1*v01)
				bottom := float32(b0*v10) + float32(b1*v11)
				out[(y*ow+x)*c+ch] = float32(a0*top) + float32(a1*bottom)
			}
		}
	}
	return out
}

// Preprocess brings n images [n, h, w, c] (channels last, values in [0, 1], c = 1 for grey
// or 3 for RGB) to the network's input as pytorch-fid does: grey replicated to three
// channels, the bilinear resize to 299x299 (Resize), then 2x - 1. The result is
// [n, 299, 299, 3].
func Preprocess(images []float32, n, h, w, c int) ([]float32, error) {
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("inception: images need 1 (grey) or 3 (RGB) channels, not %d", c)
	}
	if len(images) != n*h*w*c {
		return nil, fmt.Errorf("inception: %d values for %d images of %dx%dx%d", len(images), n, h, w, c)
	}
	out := make([]float32, 0, n*Side*Side*3)
	rgb := make([]float32, h*w*3)
	for i := range n {
		img := images[i*h*w*c : (i+1)*h*w*c]
		if c == 1 {
			for p, v := range img {
				rgb[3*p], rgb[3*p+1], rgb[3*p+2] = v, v, v
			}
			img = rgb
		}
		for _, v := range Resize(img, h, w, 3, Side, Side) {
			out = append(out, float32(2*v)-1)
		}
	}
	return out, nil
}
