package gokernels

import "sync/atomic"

// kernelDirectSupported says whether A may be read in place (microRows, microDirect,
// microTable); tests turn it off to compare with A packed.
var kernelDirectSupported = true

// directCalls counts the micro-kernel calls that read A in place (tests).
var directCalls atomic.Int64

// A packed A panel pays for itself only when enough B panels reuse it; below these counts of
// column panels A is read in place instead. maxDirectPanels holds for any A (it is a variable
// so that BenchmarkConv can compare settings); an A with contiguous rows (an activation
// matrix) is read in place up to maxRowsPanels; an A given by offset tables (an implicit
// im2col operand, a kernel gradient's) up to maxTablePanels, because packing it means a
// gather per element while the two-panel kernels read each of its values once per two
// panels. docs/performance.md has the measurements behind the three.
var maxDirectPanels = 4

const (
	maxRowsPanels  = 16
	maxTablePanels = 32
)

// directMacroKernel is macroKernel with A read in place for its full mr-row panels: by
// microRows when A's rows are contiguous, by microDirect when A is another progression both
// ways, else by microTable (rows and steps from A's offset tables);
// a last panel with fewer rows is packed into ap as usual. The sums are the same, in the
// same order, as with A packed.
func directMacroKernel(a matrix, ap, bp, c []float32, n, i0, mcb, p0, kcb, colLo, colHi int, accumulate bool) {
	full := mcb / mr * mr
	if full < mcb {
		packA(ap, a, i0+full, mcb-full, p0, kcb)
		macroKernel(ap, bp, c, n, i0+full, mcb-full, kcb, colLo, colHi, accumulate)
	}
	if full > 0 {
		directCalls.Add(1)
	}
	var tile [maxMr * nr]float32
	for j := colLo; j < colHi; {
		panels := panelsAt(j, colHi, n)
		cols := min(nr, n-j*nr)
		bPanel := &bp[j*kcb*nr]
		for i := 0; i < full; {
			step := mr
			cOff := (i0+i)*n + j*nr
			dst, ldc := &c[cOff], n
			if cols < nr {
				dst, ldc = &tile[0], nr
			}
			acc := accumulate && cols == nr
			switch {
			case a.rowStep > 0 && a.colStep == 1:
				rows := microRows
				if panels == 2 {
					rows = microRows2
				}
				rows(kcb, &a.data[a.rowOff[i0+i]+a.colOff[p0]], a.rowStep, bPanel, dst, ldc, acc)
			case a.rowStep > 0 && a.colStep > 0:
				direct := microDirect
				if panels == 2 {
					direct = microDirect2
				}
				direct(kcb, &a.data[a.rowOff[i0+i]+a.colOff[p0]], a.rowStep, a.colStep, bPanel, dst, ldc, acc)
			default:
				if panels == 1 && cols == nr && microProg16 != nil && i+16 <= full {
					// Sixteen rows at a constant stride share each load of B.
					if d := stepOf(a.rowOff[i0+i : i0+i+16]); d > 0 {
						microProg16(kcb, &a.data[a.rowOff[i0+i]], d, &a.colOff[p0], bPanel, dst, ldc, acc)
						step = 16
						break
					}
				}
				table := microTable
				if panels == 2 {
					table = microTable2
				}
				table(kcb, &a.data[0], &a.rowOff[i0+i], &a.colOff[p0], bPanel, dst, ldc, acc)
			}
			if cols < nr {
				storeTile(c, tile[:], cOff, n, mr, cols, accumulate)
			}
			i += step
		}
		j += panels
	}
}
