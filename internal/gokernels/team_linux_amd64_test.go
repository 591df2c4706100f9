package gokernels

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPartHomeReadsTheCore: on a thread bound to one core at a time, rdpid reads that core's
// number, so that part k of every op goes first to core k.
func TestPartHomeReadsTheCore(t *testing.T) {
	if !coreNumbers {
		t.Skip("no RDPID on this CPU")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var saved unix.CPUSet
	if err := unix.SchedGetaffinity(0, &saved); err != nil {
		t.Skip(err)
	}
	defer unix.SchedSetaffinity(0, &saved)
	checked := 0
	for cpu := range 1024 {
		if !saved.IsSet(cpu) {
			continue
		}
		var one unix.CPUSet
		one.Set(cpu)
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			t.Fatal(err)
		}
		if got := int(rdpid() & 0xfff); got != cpu {
			t.Fatalf("on core %d rdpid reads %d", cpu, got)
		}
		if cpu > 0 && partHome(cpu+1) != cpu || partHome(1) != 0 {
			t.Fatalf("on core %d partHome(%d) = %d, partHome(1) = %d", cpu, cpu+1, partHome(cpu+1), partHome(1))
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no core in this thread's affinity mask")
	}
}
