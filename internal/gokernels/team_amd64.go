package gokernels

import "runtime"

func cpuidRDPID() bool
func rdpid() uint32

// coreNumbers reports whether rdpid gives the number of the current core: the CPU has RDPID
// and the kernel is Linux, which stores that number where RDPID reads.
var coreNumbers = runtime.GOOS == "linux" && cpuidRDPID()

// partHome is the part of an op that the calling core takes first: its own number modulo
// the parts, or 0 where the core's number cannot be read cheaply.
func partHome(parts int) int {
	if !coreNumbers {
		return 0
	}
	return int(rdpid()&0xfff) % parts
}
