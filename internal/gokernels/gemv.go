package gokernels

// Products with one output column: a convolution to one channel (a U-Net's last layer) and
// its kernel gradient. The tile kernels compute 16 columns, so one useful column wastes
// fifteen sixteenths of their work; these two read A as the tiles do, through its offset
// tables, and multiply by the column b:
//
//   - gemvCols16Asm takes sixteen rows of A that are neighbours in memory (a kernel
//     gradient's input channels) in one vector per step of the contraction;
//   - gemvRows16Asm takes a row at a time, its columns in runs of sixteen neighbours (an
//     implicit im2col's taps over 16 or more input channels), and adds the lanes at the end.
//
// Each output element's sum runs in a fixed order that depends on neither the number of
// workers nor the CPU (both are AVX2 code, also where the CPU has AVX-512); it is not the
// tile kernels' order, so like them they are checked against float64 (TestGemvMatchesFloat64).

// gemvPlan says how a product runs when b is one contiguous column: "cols" when A's rows
// come in groups of sixteen neighbours, "rows" (with the offsets of the runs' starts) when
// A's columns come in runs of sixteen neighbours, "" when neither (the tile kernels).
func gemvPlan(m, n, k int, a, b matrix) (kind string, runOff []int) {
	if n != 1 || !kernelSupported || k == 0 || !b.unitRows {
		return "", nil
	}
	if m%16 == 0 {
		groups := true
		for i := 0; i < m && groups; i += 16 {
			groups = isUnit(a.rowOff[i : i+16])
		}
		if groups {
			return "cols", nil
		}
	}
	if k%16 == 0 {
		for p := 0; p < k; p += 16 {
			if !isUnit(a.colOff[p : p+16]) {
				return "", nil
			}
			runOff = append(runOff, a.colOff[p])
		}
		return "rows", runOff
	}
	return "", nil
}

// gemv sets c (m values) to a (m x k) times the column b, in the way gemvPlan chose.
func gemv(kind string, runOff []int, m, k int, a, b matrix, c []float32, maxWorkers int) {
	bp := &b.data[b.rowOff[0]+b.colOff[0]]
	workers := max(1, min(maxWorkers, 2*m*k/minFlopsPerWorker))
	if kind == "cols" {
		groups := m / 16
		run(min(workers, groups), func(part int) {
			lo, hi := partRange(groups, min(workers, groups), part)
			for g := lo; g < hi; g++ {
				gemvCols16Asm(k, &a.data[a.rowOff[16*g]], &a.colOff[0], bp, &c[16*g])
			}
		})
		return
	}
	parts := min(workers, m)
	run(parts, func(part int) {
		lo, hi := partRange(m, parts, part)
		if lo < hi {
			gemvRows16Asm(hi-lo, &a.data[0], &a.rowOff[lo], len(runOff), &runOff[0], bp, &c[lo])
		}
	})
}
