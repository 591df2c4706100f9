package gokernels

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

// The random bits behind every dropout mask and RandomUniform: simplego's RNGBitGenerator
// seeds a math/rand/v2 PCG with the two words of the state, draws one uint64 for each 8 bytes
// of output and hands the bytes out one at a time, lowest first, then stores the PCG's new
// state. execRNGBitGenerator draws the same uint64s and stores each one whole in
// little-endian order, which is the same bytes, and stores the same new state; so the bits
// are simplego's (TestRNGBitGeneratorMatchesSimplego). The byte loop was about a twentieth
// of the papers' U-Net step, which draws a mask for every residual block.

// multiExecutor has the signature of simplego's unexported nodeMultiOutputExecutor type.
type multiExecutor func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) ([]*simplego.Buffer, error)

// multiOutputsNodeExecutors is simplego's table of the ops with several outputs.
//
//go:linkname multiOutputsNodeExecutors github.com/gomlx/gomlx/backends/simplego.multiOutputsNodeExecutors
var multiOutputsNodeExecutors [backends.OpTypeLast]multiExecutor

var (
	stockRNG multiExecutor
	rngCalls atomic.Int64
)

// RNGCalls is how many RNGBitGenerators ran on the fast path.
func RNGCalls() int64 { return rngCalls.Load() }

// installRNGHook puts execRNGBitGenerator in simplego's table (once).
func installRNGHook() {
	if stockRNG == nil && multiOutputsNodeExecutors[backends.OpTypeRNGBitGenerator] != nil {
		stockRNG = multiOutputsNodeExecutors[backends.OpTypeRNGBitGenerator]
		multiOutputsNodeExecutors[backends.OpTypeRNGBitGenerator] = execRNGBitGenerator
	}
}

// bytesOf is the memory of a buffer's flat slice of unsigned integers as bytes, or nil for
// other element types.
func bytesOf(flat any) []byte {
	switch f := flat.(type) {
	case []uint8:
		return f
	case []uint32:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))
	case []uint64:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 8*len(f))
	}
	return nil
}

// execRNGBitGenerator is simplego's RNGBitGenerator, a uint64 at a time.
func execRNGBitGenerator(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) ([]*simplego.Buffer, error) {
	n := (*nodeLayout)(unsafe.Pointer(node))
	in := (*bufferLayout)(unsafe.Pointer(inputs[0]))
	stateIn, ok := in.flat.([]uint64)
	if !active.Load() || !ok || len(stateIn) < 2 || len(n.multiOutputsShapes) != 2 {
		return stockRNG(backend, node, inputs, inputsOwned)
	}
	bits := getBufferForShape(backend, n.multiOutputsShapes[1])
	if bits == nil {
		return stockRNG(backend, node, inputs, inputsOwned)
	}
	out := bytesOf((*bufferLayout)(unsafe.Pointer(bits)).flat)
	if out == nil {
		return stockRNG(backend, node, inputs, inputsOwned)
	}
	state := inputs[0]
	if !inputsOwned[0] {
		if state = getBufferForShape(backend, n.multiOutputsShapes[0]); state == nil {
			return stockRNG(backend, node, inputs, inputsOwned)
		}
	}
	rng := rand.NewPCG(stateIn[0], stateIn[1])
	i := 0
	for ; i+8 <= len(out); i += 8 {
		binary.LittleEndian.PutUint64(out[i:], rng.Uint64())
	}
	if i < len(out) {
		for v := rng.Uint64(); i < len(out); i++ {
			out[i] = byte(v)
			v >>= 8
		}
	}
	if inputsOwned[0] {
		inputs[0] = nil // the state's buffer is reused for the new state, as simplego does
	}
	// The new state is the PCG's marshalled form ("pcg:" and two 8-byte words) read as two
	// little-endian words, exactly as simplego stores it.
	saved, err := rng.MarshalBinary()
	if err != nil || len(saved) != 20 || string(saved[:4]) != "pcg:" {
		return nil, fmt.Errorf("gokernels: math/rand/v2's PCG state is no longer 20 bytes starting with \"pcg:\" (%d bytes)", len(saved))
	}
	stateOut := (*bufferLayout)(unsafe.Pointer(state)).flat.([]uint64)
	stateOut[0] = binary.LittleEndian.Uint64(saved[4:12])
	stateOut[1] = binary.LittleEndian.Uint64(saved[12:20])
	rngCalls.Add(1)
	return []*simplego.Buffer{state, bits}, nil
}
