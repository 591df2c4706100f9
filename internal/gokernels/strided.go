package gokernels

// Element-wise walks over a tensor in flat order, with up to two other operands read (or
// written) through strides, 0 along the axes where they are broadcast (or reduced). They serve
// the cases that binary.go, memops.go and broadcast.go's contiguous loops do not: GroupNorm's
// statistics, [P, B, G, C/G] against [1, B, G, 1], reduced over axes 0 and 3 and broadcast
// back; the attention's masks. Axes of size 1 are dropped and neighbouring axes on which every
// operand is either contiguous or broadcast are merged, so that the two innermost remaining
// axes run as plain loops and only the others go through an odometer.

// walk is the loop nest of one element-wise pass: the merged axes, outermost first (at
// least two, padded with size-1 axes in front), and per other operand its stride on each.
type walk struct {
	n  []int
	st [2][]int
}

// newWalk merges the axes of dims (the walked tensor, contiguous) for operands whose
// dimensions (same rank as dims) are each 1 or dims': an operand's stride along an axis of
// dims is its row-major stride there, or 0 where its dimension is 1.
func newWalk(dims []int, operands ...[]int) (walk, bool) {
	var w walk
	if len(operands) > 2 {
		return w, false
	}
	rank := len(dims)
	strides := make([][]int, len(operands))
	for k, od := range operands {
		if len(od) != rank {
			return w, false
		}
		strides[k] = make([]int, rank)
		s := 1
		for ax := rank - 1; ax >= 0; ax-- {
			switch {
			case od[ax] == dims[ax]:
				strides[k][ax] = s
			case od[ax] == 1:
				strides[k][ax] = 0
			default:
				return w, false
			}
			s *= od[ax]
		}
	}
	// pattern: bit k set where operand k is broadcast on the axis.
	pattern := func(ax int) int {
		p := 0
		for k := range operands {
			if strides[k][ax] == 0 {
				p |= 1 << k
			}
		}
		return p
	}
	var n, pats []int
	var st [2][]int
	for ax := range rank {
		if dims[ax] == 1 {
			continue
		}
		p := pattern(ax)
		if len(n) > 0 && pats[len(pats)-1] == p {
			// Same pattern as the axis before: the two form one axis, whose strides are
			// this (inner) axis's.
			n[len(n)-1] *= dims[ax]
			for k := range operands {
				st[k][len(n)-1] = strides[k][ax]
			}
			continue
		}
		n, pats = append(n, dims[ax]), append(pats, p)
		for k := range operands {
			st[k] = append(st[k], strides[k][ax])
		}
	}
	for len(n) < 2 {
		n = append([]int{1}, n...)
		for k := range operands {
			st[k] = append([]int{0}, st[k]...)
		}
	}
	for k := len(operands); k < 2; k++ {
		st[k] = make([]int, len(n))
	}
	w.n, w.st = n, st
	return w, true
}

// block is how many values of the walked tensor the two innermost axes hold.
func (w *walk) block() int { return w.n[len(w.n)-1] * w.n[len(w.n)-2] }

// outer is the number of blocks (the product of the other axes).
func (w *walk) outer() int {
	c := 1
	for _, d := range w.n[:len(w.n)-2] {
		c *= d
	}
	return c
}

// each calls f for the blocks lo .. hi-1 in order with the block's index and the two
// operands' offsets at its start.
func (w *walk) each(lo, hi int, f func(i, off0, off1 int)) {
	outerAxes := len(w.n) - 2
	idx := make([]int, outerAxes)
	off0, off1 := 0, 0
	rem := lo
	for ax := outerAxes - 1; ax >= 0; ax-- {
		idx[ax] = rem % w.n[ax]
		rem /= w.n[ax]
		off0 += idx[ax] * w.st[0][ax]
		off1 += idx[ax] * w.st[1][ax]
	}
	for i := lo; i < hi; i++ {
		f(i, off0, off1)
		for ax := outerAxes - 1; ax >= 0; ax-- {
			idx[ax]++
			off0 += w.st[0][ax]
			off1 += w.st[1][ax]
			if idx[ax] < w.n[ax] {
				break
			}
			off0 -= w.st[0][ax] * w.n[ax]
			off1 -= w.st[1][ax] * w.n[ax]
			idx[ax] = 0
		}
	}
}

// inner returns the two innermost axes' sizes (n1 outer, n0 inner) and operand k's strides
// on them.
func (w *walk) inner(k int) (n1, n0, s1, s0 int) {
	m := len(w.n)
	return w.n[m-2], w.n[m-1], w.st[k][m-2], w.st[k][m-1]
}

// binaryStrided computes dst = a op b over dst's dimensions, a and b read through w's
// strides (operands 0 and 1). Every value is the one IEEE operation of op, whatever the
// loop, so the result is simplego's broadcast op bit for bit; blocks are shared between
// workers when the output is large.
//
// An operand whose block is not contiguous (GroupNorm's [1, B, G, 1] statistics against
// [P, B, G, C/G]: each value repeated C/G times in the block) and whose block does not change
// along the innermost outer axis is first spread into a contiguous block, once for all the
// blocks that share it, so that the op runs as the vector loop.
func (op binaryOp) strided(w *walk, dst, a, b []float32) {
	n1, n0, sa1, sa0 := w.inner(0)
	_, _, sb1, sb0 := w.inner(1)
	blk := w.block()
	spreadA, spreadB := w.repeats(0) && !(sa0 == 1 && sa1 == n0), w.repeats(1) && !(sb0 == 1 && sb1 == n0)
	spread := n0 < 8 && (spreadA && (spreadB || sb0 == 1 && sb1 == n0) || spreadB && sa0 == 1 && sa1 == n0)
	body := func(sa, sb *spreadBlock) func(i, oa, ob int) {
		return func(i, oa, ob int) {
			d := dst[i*blk : (i+1)*blk]
			switch {
			case spread:
				ra, rb := a[oa:], b[ob:]
				if spreadA {
					ra = sa.of(a, oa, n1, n0, sa1, sa0)
				}
				if spreadB {
					rb = sb.of(b, ob, n1, n0, sb1, sb0)
				}
				op.vecN(d, ra[:blk], rb[:blk])
			case n0 >= 8 && sa0 == 1 && sb0 == 1:
				for j := range n1 {
					op.vecN(d[j*n0:(j+1)*n0], a[oa+j*sa1:oa+j*sa1+n0], b[ob+j*sb1:ob+j*sb1+n0])
				}
			case n0 >= 8 && sa0 == 1 && sb0 == 0:
				for j := range n1 {
					op.scalarN(d[j*n0:(j+1)*n0], a[oa+j*sa1:oa+j*sa1+n0], b[ob+j*sb1])
				}
			case n0 >= 8 && sa0 == 0 && sb0 == 1 && op.commutes():
				for j := range n1 {
					op.scalarN(d[j*n0:(j+1)*n0], b[ob+j*sb1:ob+j*sb1+n0], a[oa+j*sa1])
				}
			default:
				op.loop(d, a, b, oa, sa1, sa0, ob, sb1, sb0, n1, n0)
			}
		}
	}
	blocks := w.outer()
	parts := min(defaultWorkers(), len(dst)/minChunk, blocks)
	if parts <= 1 {
		w.each(0, blocks, body(&spreadBlock{}, &spreadBlock{}))
		return
	}
	run(parts, func(p int) {
		lo, hi := partRange(blocks, parts, p)
		w.each(lo, hi, body(&spreadBlock{}, &spreadBlock{}))
	})
}

// repeats reports whether operand k's block stays the same along the innermost outer axis
// (its stride there is 0), so that a block spread once serves the next ones.
func (w *walk) repeats(k int) bool {
	m := len(w.n)
	return m > 2 && w.n[m-3] > 1 && w.st[k][m-3] == 0
}

// spreadBlock holds one operand block copied out contiguously, and where it came from.
type spreadBlock struct {
	vals []float32
	off  int
}

// of returns the block of x at offset off (n1 rows of n0 values at strides s1 and s0) as a
// contiguous slice, copying it only when the previous call was for another offset.
func (sb *spreadBlock) of(x []float32, off, n1, n0, s1, s0 int) []float32 {
	if sb.vals != nil && sb.off == off {
		return sb.vals
	}
	if sb.vals == nil {
		sb.vals = make([]float32, n1*n0)
	}
	sb.off = off
	v := sb.vals
	if s0 == 0 && n0 == 2 {
		for j := range n1 {
			x := x[off+j*s1]
			v[2*j], v[2*j+1] = x, x
		}
		return v
	}
	for j := range n1 {
		r := v[j*n0 : (j+1)*n0]
		for c := range r {
			r[c] = x[off+j*s1+c*s0]
		}
	}
	return v
}

// commutes reports whether a op b = b op a for every float32 pair (Add and Mul).
func (op binaryOp) commutes() bool { return op.stock == &stockAdd || op.stock == &stockMul }

// loop is the element loop of a block: d[j*n0 + c] = a[oa + j*sa1 + c*sa0] op b[ob + j*sb1 +
// c*sb0], written out per op so that the operation is inlined.
func (op binaryOp) loop(d, a, b []float32, oa, sa1, sa0, ob, sb1, sb0, n1, n0 int) {
	switch op.stock {
	case &stockAdd:
		for j := range n1 {
			ra, rb, rd := oa+j*sa1, ob+j*sb1, d[j*n0:(j+1)*n0]
			for c := range rd {
				rd[c] = a[ra+c*sa0] + b[rb+c*sb0]
			}
		}
	case &stockSub:
		for j := range n1 {
			ra, rb, rd := oa+j*sa1, ob+j*sb1, d[j*n0:(j+1)*n0]
			for c := range rd {
				rd[c] = a[ra+c*sa0] - b[rb+c*sb0]
			}
		}
	case &stockMul:
		for j := range n1 {
			ra, rb, rd := oa+j*sa1, ob+j*sb1, d[j*n0:(j+1)*n0]
			for c := range rd {
				rd[c] = a[ra+c*sa0] * b[rb+c*sb0]
			}
		}
	default:
		for j := range n1 {
			ra, rb, rd := oa+j*sa1, ob+j*sb1, d[j*n0:(j+1)*n0]
			for c := range rd {
				rd[c] = op.one(a[ra+c*sa0], b[rb+c*sb0])
			}
		}
	}
}

// reduceSumStrided adds every value of x (walked in flat order) into dst at operand 0's
// strides (0 along the reduced axes): dst must start at zero. Each output receives its
// values in flat order, one float32 addition at a time, as simplego's ReduceSum does. When the
// second innermost axis is kept (GroupNorm's statistics: [P, B*G, C/G] summed over P and C/G)
// its rows, each an output of its own, are shared between workers, every worker walking all
// the blocks for its rows; the order of each output's additions stays the same.
func reduceSumStrided(w *walk, dst, x []float32) {
	n1, n0, s1, s0 := w.inner(0)
	blk := w.block()
	rows := func(lo, hi int) {
		w.each(0, w.outer(), func(i, od, _ int) {
			xb := x[i*blk : (i+1)*blk]
			switch {
			case s0 == 0 && s1 == 1 && n0 >= 2 && n0 <= 4: // GroupNorm's C/G channels of a group
				sumShortRows(dst[od+lo:od+hi], xb[lo*n0:hi*n0], n0)
			case s0 == 0: // the inner axis is reduced: one running sum per row
				for j := lo; j < hi; j++ {
					s := dst[od+j*s1]
					for _, v := range xb[j*n0 : (j+1)*n0] {
						s += v
					}
					dst[od+j*s1] = s
				}
			case s0 == 1 && s1 == 0 && n0 >= 8: // rows added into one contiguous run of dst
				for j := lo; j < hi; j++ {
					opAdd.vecN(dst[od:od+n0], dst[od:od+n0], xb[j*n0:(j+1)*n0])
				}
			default:
				for j := lo; j < hi; j++ {
					for c, v := range xb[j*n0 : (j+1)*n0] {
						dst[od+j*s1+c*s0] += v
					}
				}
			}
		})
	}
	if s1 == 0 {
		rows(0, n1)
		return
	}
	inRowChunks(n1, len(x)/n1, rows)
}

// sumShortRows adds row j of x (len(d) rows of n0 values, n0 from 2 to 4) into d[j], value
// by value in order: the row loop written out for each n0, which the compiler keeps free of
// bounds checks and of an inner loop.
func sumShortRows(d, x []float32, n0 int) {
	switch n0 {
	case 2:
		x := x[:2*len(d)]
		for j := range d {
			s := d[j]
			s += x[2*j]
			s += x[2*j+1]
			d[j] = s
		}
	case 3:
		x := x[:3*len(d)]
		for j := range d {
			s := d[j]
			s += x[3*j]
			s += x[3*j+1]
			s += x[3*j+2]
			d[j] = s
		}
	default:
		x := x[:4*len(d)]
		for j := range d {
			r := x[4*j : 4*j+4 : 4*j+4]
			s := d[j]
			s += r[0]
			s += r[1]
			s += r[2]
			s += r[3]
			d[j] = s
		}
	}
}

// broadcastStrided fills dst (walked) with src read at operand 0's strides. A block read
// from the same place as the block before it is a copy of that block. Large outputs share
// their blocks between workers, or the rows of their one block.
func broadcastStrided(w *walk, dst, src []float32) {
	n1, n0, s1, s0 := w.inner(0)
	blk := w.block()
	// rows fills rows lo .. hi-1 of the block at d, read from src at os.
	rows := func(d []float32, os, lo, hi int) {
		switch {
		case s0 == 1:
			for j := lo; j < hi; j++ {
				copy(d[j*n0:(j+1)*n0], src[os+j*s1:os+j*s1+n0])
			}
		case s0 == 0:
			for j := lo; j < hi; j++ {
				v := src[os+j*s1]
				r := d[j*n0 : (j+1)*n0]
				for c := range r {
					r[c] = v
				}
			}
		default:
			for j := lo; j < hi; j++ {
				r := d[j*n0 : (j+1)*n0]
				for c := range r {
					r[c] = src[os+j*s1+c*s0]
				}
			}
		}
	}
	if w.outer() == 1 {
		inRowChunks(n1, n0, func(lo, hi int) { rows(dst, 0, lo, hi) })
		return
	}
	inRowChunks(w.outer(), blk, func(lo, hi int) {
		prev, prevOff := []float32(nil), 0
		w.each(lo, hi, func(i, os, _ int) {
			d := dst[i*blk : (i+1)*blk]
			if prev != nil && os == prevOff {
				copy(d, prev)
			} else {
				rows(d, os, 0, n1)
			}
			prev, prevOff = d, os
		})
	})
}
