package gokernels

import (
	"math"
	"runtime"
	"sync"
)

// Blocking of the GotoBLAS/BLIS kind: a kc-deep slice of B is packed into nr-wide panels
// (each panel, kc x nr floats = 16 KiB, stays in L1 while it is used), an mc x kc block of A
// is packed into mr-tall panels (72 KiB, L2), and the micro-kernel multiplies one A panel by
// one B panel into an mr x nr tile of C held in registers (mr is set with the micro-kernels,
// tile.go).
const (
	nr = 16
	kc = 256
	mc = 72 // a multiple of every mr

	// minFlopsPerWorker keeps small products on one goroutine: below about 10 µs of work
	// the hand-off costs more than it saves.
	minFlopsPerWorker = 1 << 19
)

// matrix is a read-only view of a matrix inside a flat buffer: element (i, j) is
// data[rowOff[i] + colOff[j]]. Offset tables let one view describe any DotGeneral operand
// (axes in any order, free or contracted axes not adjacent) without copying it first.
type matrix struct {
	data           []float32
	rowOff, colOff []int
	// unitRows: rowOff[i] = rowOff[0] + i; unitCols: colOff[j] = colOff[0] + j. They select
	// the packing loops that read contiguous memory.
	unitRows, unitCols bool
	// rowStep and colStep are the constant differences of rowOff and colOff when they are
	// arithmetic progressions (0 when not): the micro-kernel can then read A in place.
	rowStep, colStep int
	// colRunEnd[j], when not nil, is the end of the run of contiguous columns that holds
	// column j (colOff[j+1] = colOff[j] + 1 inside a run): the runs of an implicit im2col
	// operand, one per kernel tap, that packA copies row by row.
	colRunEnd []int32
}

func newMatrix(data []float32, rowOff, colOff []int) matrix {
	m := matrix{data: data, rowOff: rowOff, colOff: colOff, unitRows: isUnit(rowOff), unitCols: isUnit(colOff),
		rowStep: stepOf(rowOff), colStep: stepOf(colOff)}
	if !m.unitCols {
		m.colRunEnd = runEnds(colOff)
	}
	return m
}

// minRun is the shortest average run of contiguous columns for which packA copies runs.
const minRun = 4

// runEnds returns, for each index, the end of the run of consecutive offsets that holds it,
// or nil when the runs are on average shorter than minRun.
func runEnds(off []int) []int32 {
	runs := 1
	for j := 1; j < len(off); j++ {
		if off[j] != off[j-1]+1 {
			runs++
		}
	}
	if len(off) < minRun*runs {
		return nil
	}
	end := make([]int32, len(off))
	e := len(off)
	for j := len(off) - 1; j >= 0; j-- {
		end[j] = int32(e)
		if j > 0 && off[j] != off[j-1]+1 {
			e = j
		}
	}
	return end
}

// stepOf returns d when off[i] = off[0] + i*d for every i with d > 0, else 0.
func stepOf(off []int) int {
	if len(off) < 2 {
		return 1
	}
	d := off[1] - off[0]
	if d <= 0 {
		return 0
	}
	for i := range off {
		if off[i] != off[0]+i*d {
			return 0
		}
	}
	return d
}

// stridedMatrix is the view of a rows x cols matrix with element (i, j) at off + i*rs + j*cs.
func stridedMatrix(data []float32, off, rows, cols, rs, cs int) matrix {
	return newMatrix(data, progression(off, rs, rows), progression(0, cs, cols))
}

func progression(start, step, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i*step
	}
	return out
}

func isUnit(off []int) bool {
	for i := range off {
		if off[i] != off[0]+i {
			return false
		}
	}
	return true
}

var panelPool sync.Pool

func getPanel(n int) *[]float32 {
	if p, ok := panelPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

// gemm sets c (row-major m x n, row stride n) to a (m x k) times b (k x n).
//
// Every element of c is the sum over k in the same order (kc blocks in turn, FMAs in k order
// within a block) whatever the number of workers, so results are bit-identical for any
// GOMAXPROCS.
func gemm(m, n, k int, a, b matrix, c []float32, maxWorkers int) {
	if k == 0 {
		clear(c[:m*n])
		return
	}
	if kind, runOff := gemvPlan(m, n, k, a, b); kind != "" {
		gemv(kind, runOff, m, k, a, b, c, maxWorkers)
		return
	}
	nPanels := (n + nr - 1) / nr
	mPanels := (m + mr - 1) / mr
	workers := maxWorkers
	if w := 2 * m * n * k / minFlopsPerWorker; w < workers {
		workers = w
	}
	if workers < 1 {
		workers = 1
	}
	// Split the rows of c among the workers, or its columns when there are too few rows.
	splitRows := mPanels >= workers || mPanels >= nPanels
	parts := workers
	if splitRows && mPanels < parts {
		parts = mPanels
	} else if !splitRows && nPanels < parts {
		parts = nPanels
	}

	// All of B is packed first (kc-deep blocks one after another), so that the workers then
	// run through every block without meeting again.
	kBlocks := (k + kc - 1) / kc
	var blockB func(q int) []float32
	var packAllB func(lo, hi int)
	if n == nr && b.unitCols && b.rowStep == nr {
		// B is one full panel whose rows are contiguous and adjacent (16 output channels): it
		// is already in packed form, and is read where it is.
		base := b.rowOff[0] + b.colOff[0]
		blockB = func(q int) []float32 { return b.data[base+q*kc*nr : base+(q*kc+min(kc, k-q*kc))*nr] }
		packAllB = func(lo, hi int) {}
	} else {
		bufB := getPanel(k * nPanels * nr)
		defer panelPool.Put(bufB)
		blockB = func(q int) []float32 {
			return (*bufB)[q*kc*nPanels*nr : (q*kc+min(kc, k-q*kc))*nPanels*nr]
		}
		packAllB = func(lo, hi int) {
			for q := range kBlocks {
				packB(blockB(q), b, q*kc, min(kc, k-q*kc), n, lo, hi)
			}
		}
	}
	// With few column panels A is read in place (direct.go): through its strides when they
	// are constant, else through its offset tables.
	tableA := a.rowStep == 0 || a.colStep == 0
	direct := kernelDirectSupported && (nPanels <= maxDirectPanels ||
		nPanels <= maxRowsPanels && a.colStep == 1 && a.rowStep > 0 ||
		nPanels <= maxTablePanels && tableA && microTable2 != nil)
	compute := func(rowLo, rowHi, colLo, colHi int) {
		bufA := getPanel(mc * min(k, kc))
		defer panelPool.Put(bufA)
		rowEnd := min(rowHi*mr, m)
		for q := range kBlocks {
			p0, kcb := q*kc, min(kc, k-q*kc)
			for i0 := rowLo * mr; i0 < rowEnd; i0 += mc {
				mcb := min(mc, rowEnd-i0)
				if direct {
					directMacroKernel(a, *bufA, blockB(q), c, n, i0, mcb, p0, kcb, colLo, colHi, q > 0)
					continue
				}
				packA(*bufA, a, i0, mcb, p0, kcb)
				macroKernel(*bufA, blockB(q), c, n, i0, mcb, kcb, colLo, colHi, q > 0)
			}
		}
	}
	if splitRows {
		run(parts, func(part int) { packAllB(partRange(nPanels, parts, part)) })
		run(parts, func(part int) {
			lo, hi := partRange(mPanels, parts, part)
			compute(lo, hi, 0, nPanels)
		})
		return
	}
	run(parts, func(part int) {
		lo, hi := partRange(nPanels, parts, part)
		packAllB(lo, hi)
		compute(0, mPanels, lo, hi)
	})
}

// partRange splits [0, total) into parts nearly equal contiguous ranges and returns the i-th.
func partRange(total, parts, i int) (lo, hi int) {
	return total * i / parts, total * (i + 1) / parts
}

// run calls f(0) ... f(parts-1), concurrently when parts > 1: on the team (team.go), or on
// goroutines of their own while the team is busy.
func run(parts int, f func(int)) {
	if parts <= 0 {
		return
	}
	if parts == 1 {
		f(0)
		return
	}
	if runOnTeam(parts, f) {
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < parts; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); f(i) }()
	}
	f(0)
	wg.Wait()
}

// packB copies rows p0 .. p0+kcb of b, panels lo .. hi-1 (nr columns each, zero-padded past
// n), into bp: panel j holds kcb rows of nr consecutive floats.
func packB(bp []float32, b matrix, p0, kcb, n, lo, hi int) {
	for j := lo; j < hi; j++ {
		panel := bp[j*kcb*nr : (j+1)*kcb*nr]
		col0 := j * nr
		cols := min(nr, n-col0)
		colOff := b.colOff[col0 : col0+cols]
		switch {
		case b.unitCols: // rows of b are contiguous
			for p := 0; p < kcb; p++ {
				src := b.rowOff[p0+p] + colOff[0]
				dst := panel[p*nr : p*nr+nr]
				copy(dst[:cols], b.data[src:src+cols])
				clear(dst[cols:])
			}
		case b.unitRows: // columns of b are contiguous
			clear(panel)
			for jj, co := range colOff {
				col := b.data[co+b.rowOff[p0] : co+b.rowOff[p0]+kcb]
				for p, v := range col {
					panel[p*nr+jj] = v
				}
			}
		default:
			for p := 0; p < kcb; p++ {
				ro := b.rowOff[p0+p]
				dst := panel[p*nr : p*nr+nr]
				for jj, co := range colOff {
					dst[jj] = b.data[ro+co]
				}
				clear(dst[cols:])
			}
		}
	}
}

// packA copies rows i0 .. i0+mcb, columns p0 .. p0+kcb of a into ap: panel i holds kcb
// columns of mr consecutive floats (rows past mcb are zero).
func packA(ap []float32, a matrix, i0, mcb, p0, kcb int) {
	colOff := a.colOff[p0 : p0+kcb]
	for i := 0; i*mr < mcb; i++ {
		panel := ap[i*kcb*mr : (i+1)*kcb*mr]
		rows := min(mr, mcb-i*mr)
		if rows < mr {
			clear(panel)
		}
		ro := a.rowOff[i0+i*mr : i0+i*mr+rows]
		switch {
		case a.unitCols:
		case a.colRunEnd != nil:
			// Runs of contiguous columns (the taps of an implicit im2col operand): row by
			// row, run by run.
			for ii, r := range ro {
				for j := 0; j < kcb; {
					e := min(int(a.colRunEnd[p0+j])-p0, kcb)
					src := a.data[r+colOff[j] : r+colOff[j]+e-j]
					dst := panel[j*mr+ii:]
					for t, v := range src {
						dst[t*mr] = v
					}
					j = e
				}
			}
			continue
		case rows == mr && ro[mr-1] == ro[0]+mr-1 && isUnit(ro):
			// The panel's rows are neighbours in memory (a kernel gradient's input channels):
			// each column is mr consecutive floats.
			for p, co := range colOff {
				copy(panel[p*mr:p*mr+mr], a.data[ro[0]+co:ro[0]+co+mr])
			}
			continue
		default:
			// Columns far apart (a transposed operand): go column by column, so that the
			// panel's rows, usually neighbours in memory, are read together.
			for p, co := range colOff {
				dst := panel[p*mr : p*mr+rows]
				for ii, r := range ro {
					dst[ii] = a.data[r+co]
				}
			}
			continue
		}
		for ii := 0; ii < rows; ii++ {
			ro := a.rowOff[i0+i*mr+ii]
			for p, v := range a.data[ro+colOff[0] : ro+colOff[0]+kcb] { // rows of a are contiguous
				panel[p*mr+ii] = v
			}
		}
	}
}

// flushSubnormal returns x, or a zero of x's sign when x is subnormal: what the
// micro-kernels' flush-to-zero mode (flush_amd64.h) writes, applied to the sums of the edge
// tiles that are added to C here in Go.
func flushSubnormal(x float32) float32 {
	if b := math.Float32bits(x); b&0x7f800000 == 0 {
		return math.Float32frombits(b & 0x80000000)
	}
	return x
}

// storeTile writes (or adds) the valid rows x cols part of an edge tile computed into a
// scratch tile to c at cOff (row stride n).
func storeTile(c, tile []float32, cOff, n, rows, cols int, accumulate bool) {
	for r := 0; r < rows; r++ {
		dst := c[cOff+r*n : cOff+r*n+cols]
		src := tile[r*nr : r*nr+cols]
		if accumulate {
			for x := range dst {
				dst[x] = flushSubnormal(dst[x] + src[x])
			}
		} else {
			copy(dst, src)
		}
	}
}

// macroKernel multiplies the packed mcb x kcb block of A by B's panels colLo .. colHi-1 into
// rows i0 .. i0+mcb of c, overwriting or adding to c.
func macroKernel(ap, bp, c []float32, n, i0, mcb, kcb, colLo, colHi int, accumulate bool) {
	var tile [maxMr * nr]float32
	for j := colLo; j < colHi; {
		panels := panelsAt(j, colHi, n)
		cols := min(nr, n-j*nr)
		bPanel := &bp[j*kcb*nr]
		for i := 0; i*mr < mcb; i++ {
			rows := min(mr, mcb-i*mr)
			aPanel := &ap[i*kcb*mr]
			cOff := (i0+i*mr)*n + j*nr
			switch {
			case rows == mr && panels == 2:
				microPacked2(kcb, aPanel, bPanel, &c[cOff], n, accumulate)
			case rows == mr && cols == nr:
				microPacked(kcb, aPanel, bPanel, &c[cOff], n, accumulate)
			default:
				// Edge tile: the same kernel into a scratch tile, then the valid part, a
				// panel at a time. c + tile rounds exactly as the kernel's own c +
				// accumulator would.
				for jj := range panels {
					cols := min(nr, n-(j+jj)*nr)
					microPacked(kcb, aPanel, &bp[(j+jj)*kcb*nr], &tile[0], nr, false)
					storeTile(c, tile[:], cOff+jj*nr, n, rows, cols, accumulate)
				}
			}
		}
		j += panels
	}
}

// defaultWorkers is how many goroutines one product may use.
func defaultWorkers() int { return runtime.GOMAXPROCS(0) }
