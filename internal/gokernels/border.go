package gokernels

// A same-size 3x3 convolution with one pixel of zero padding around its two leading,
// spatial axes ([H, W, B, C]: every convolution of the U-Nets but the strided one, and their
// input gradients) reads padding only for its border pixels. borderSplit runs it as two
// products: the rows from pixel (1, 1) to pixel (H-2, W-2), read straight from the input
// (the rows with w = 0 or w = W-1 in between read neighbouring pixels, which is wrong but
// stays inside the input, and are overwritten next), then the border rows, read from a
// padded buffer in which only the pixels that the border reads are filled. Every output
// element is the same chain of FMAs over the same values as through the fully padded copy
// (TestBorderSplitEqualsPadded), for about a third of the copy at 28x28.

// padEverything turns the split off (tests compare the two ways).
var padEverything = false

// borderSplit is the plan of the two products.
type borderSplit struct {
	h, w, block int // spatial size, and floats per pixel (the trailing axes)
	r0, r1      int // the rows read from the input
	interior    matrix
	runs        [][2]int // the border rows, as runs [start, end)
	border      matrix
}

// newBorderSplit returns the split of a convolution plan, or nil where it does not apply.
func newBorderSplit(pl *convPlan, inDims, kerDims, outDims []int, p *convLayout) *borderSplit {
	ax := p.axes
	if len(inDims) != 4 || len(ax.InputSpatial) != 2 || ax.InputSpatial[0] != 0 || ax.InputSpatial[1] != 1 ||
		len(ax.OutputSpatial) != 2 || ax.OutputSpatial[0] != 0 || ax.OutputSpatial[1] != 1 ||
		ax.InputBatch != 2 || ax.OutputBatch != 2 || ax.InputChannels != 3 || len(ax.KernelSpatial) != 2 {
		return nil
	}
	for i := range 2 {
		if p.strides[i] != 1 || p.paddings[i] != [2]int{1, 1} || p.inputDilations[i] != 1 ||
			(p.kernelDilations != nil && p.kernelDilations[i] > 1) || kerDims[ax.KernelSpatial[i]] != 3 {
			return nil
		}
	}
	for a := range 3 {
		if outDims[a] != inDims[a] {
			return nil
		}
	}
	h, w, bsz, c := inDims[0], inDims[1], inDims[2], inDims[3]
	if h < 3 || w < 3 {
		return nil
	}
	s := &borderSplit{h: h, w: w, block: bsz * c, r0: (w + 1) * bsz, r1: (h*w - w - 1) * bsz}
	// The patch columns in the input's coordinates: a padded offset dh*(W+2)*B*C + dw*B*C + ch
	// is dh*W*B*C + dw*B*C + ch in the input.
	padRow := (w + 2) * s.block
	cols := make([]int, len(pl.a.colOff))
	for j, off := range pl.a.colOff {
		dh, rest := off/padRow, off%padRow
		cols[j] = dh*w*s.block + rest
	}
	s.interior = newMatrix(nil, progression(0, c, s.r1-s.r0), cols)
	// The border rows: pixel row 0, then the last and first pixels of each inner row (runs of
	// two pixels across a row break), then pixel row H-1.
	s.runs = append(s.runs, [2]int{0, w * bsz})
	for y := 1; y < h-1; y++ {
		s.runs = append(s.runs, [2]int{(y*w + w - 1) * bsz, (y*w + w + 1) * bsz})
	}
	s.runs[0][1] += bsz // pixel (1, 0) follows row 0
	s.runs[len(s.runs)-1][1] = h * w * bsz
	var rows []int
	for _, r := range s.runs {
		for i := r[0]; i < r[1]; i++ {
			rows = append(rows, pl.a.rowOff[i])
		}
	}
	s.border = newMatrix(nil, rows, pl.a.colOff)
	return s
}

// spreadBorder fills the pixels of the padded buffer that the border rows read: the first
// and last three pixel rows and columns, each a copy of the input's pixel or zeros.
func (s *borderSplit) spreadBorder(dst, src []float32) {
	ph, pw := s.h+2, s.w+2
	pixel := func(y, x int) {
		d := dst[(y*pw+x)*s.block : (y*pw+x+1)*s.block]
		if y < 1 || y > s.h || x < 1 || x > s.w {
			clear(d)
			return
		}
		copy(d, src[((y-1)*s.w+x-1)*s.block:])
	}
	for y := range ph {
		if y <= 2 || y >= ph-3 {
			for x := range pw {
				pixel(y, x)
			}
			continue
		}
		for _, x := range [6]int{0, 1, 2, pw - 3, pw - 2, pw - 1} {
			pixel(y, x)
		}
	}
}

// run computes the convolution of in by ker into out through the split.
func (s *borderSplit) run(pl *convPlan, in, ker, out []float32, workers int) {
	b := pl.b
	b.data = ker
	a := s.interior
	a.data = in
	gemm(s.r1-s.r0, pl.n, pl.k, a, b, out[s.r0*pl.n:s.r1*pl.n], workers)

	buf := getPanel(product(pl.padDims))
	defer panelPool.Put(buf)
	s.spreadBorder(*buf, in)
	a = s.border
	a.data = *buf
	tmp := getPanel(len(a.rowOff) * pl.n)
	defer panelPool.Put(tmp)
	gemm(len(a.rowOff), pl.n, pl.k, a, b, *tmp, workers)
	done := 0
	for _, r := range s.runs {
		done += copy(out[r[0]*pl.n:r[1]*pl.n], (*tmp)[done:])
	}
}
