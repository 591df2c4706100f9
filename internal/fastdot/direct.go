package fastdot

import "sync/atomic"

// kernelDirectSupported says whether kernel6x16Direct may be used (tests turn it off to
// compare the two paths).
var kernelDirectSupported = true

// directCalls counts the micro-kernel calls that read A in place (tests).
var directCalls atomic.Int64
