package gokernels

import "runtime"

// Element-wise ops over large buffers (the optimizer's passes over every weight, the
// activations of a batch) run on all cores: each output value is computed by the same
// operation whatever the split, so the results do not depend on the number of cores. Below
// minChunk values per part the hand-off costs more than the part.
const (
	minChunk   = 1 << 15
	chunkAlign = 64 // parts start on whole cache lines and whole AVX vectors
)

// inChunks calls f on contiguous parts [lo, hi) that cover [0, n), concurrently when n is
// large enough.
func inChunks(n int, f func(lo, hi int)) {
	parts := min(runtime.GOMAXPROCS(0), n/minChunk)
	if parts <= 1 {
		f(0, n)
		return
	}
	bound := func(p int) int {
		if p == parts {
			return n
		}
		b := n * p / parts
		return b - b%chunkAlign
	}
	run(parts, func(p int) { f(bound(p), bound(p+1)) })
}

// inRowChunks is inChunks over rows of width values each: f gets row ranges.
func inRowChunks(rows, width int, f func(lo, hi int)) {
	parts := min(runtime.GOMAXPROCS(0), rows*width/minChunk, rows)
	if parts <= 1 {
		f(0, rows)
		return
	}
	run(parts, func(p int) { f(partRange(rows, parts, p)) })
}
