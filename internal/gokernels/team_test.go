package gokernels

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTeamRunsEveryPartOnce: whatever the number of parts (including more than the team
// takes) and however many ops ask for the team at once, run returns after every part has run,
// and each part has run exactly once.
func TestTeamRunsEveryPartOnce(t *testing.T) {
	for _, parts := range []int{2, 3, 7, maxTeamParts, maxTeamParts + 1} {
		for _, callers := range []int{1, 4} {
			t.Run(fmt.Sprintf("parts=%d/callers=%d", parts, callers), func(t *testing.T) {
				var wg sync.WaitGroup
				errs := make(chan error, callers)
				for range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for round := range 200 {
							ran := make([]atomic.Int32, parts)
							run(parts, func(k int) { ran[k].Add(1) })
							for k := range ran {
								if n := ran[k].Load(); n != 1 {
									errs <- fmt.Errorf("round %d: part %d ran %d times by the time run returned", round, k, n)
									return
								}
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestTeamHelperSleepsAndWakes: an idle helper stops spinning soon after teamSpin, and the
// next op wakes it: the two parts below each wait until the other has started, which only a
// second goroutine taking one of them can satisfy.
func TestTeamHelperSleepsAndWakes(t *testing.T) {
	run(2, func(int) {}) // the team has at least one helper from here on
	deadline := time.Now().Add(5 * time.Second)
	for !allHelpersAsleep() {
		if time.Now().After(deadline) {
			t.Fatal("helpers still spinning 5 s after the last op")
		}
		time.Sleep(time.Millisecond)
	}
	started := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var missed atomic.Bool
	run(2, func(k int) {
		close(started[k])
		select {
		case <-started[1-k]:
		case <-time.After(2 * time.Second):
			missed.Store(true)
		}
	})
	if missed.Load() {
		t.Fatal("one goroutine ran both parts: no helper woke for the op")
	}
}

func allHelpersAsleep() bool {
	team.mu.Lock()
	defer team.mu.Unlock()
	for _, h := range team.helpers {
		if !h.asleep.Load() {
			return false
		}
	}
	return len(team.helpers) > 0
}

// TestTeamNoPartsRunsNothing: an op of no parts (a product with no rows) returns at once.
func TestTeamNoPartsRunsNothing(t *testing.T) {
	ran := false
	run(0, func(int) { ran = true })
	if ran {
		t.Fatal("run(0) ran a part")
	}
}

// TestTeamPanicStopsTheOtherParts: when a part panics on the calling goroutine and the panic
// is recovered above run (as GoMLX's executor does), no part is running or starts after run
// has unwound, and the team takes the next op.
func TestTeamPanicStopsTheOtherParts(t *testing.T) {
	if runtime.GOMAXPROCS(0) == 1 {
		t.Skip("one core: the parts of an op run one after another")
	}
	const parts = 16
	var running, done atomic.Int32
	var panicked atomic.Bool
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Fatal("the part's panic did not reach the caller")
			}
		}()
		run(parts, func(k int) {
			if !onHelper() && panicked.CompareAndSwap(false, true) {
				panic("a part failed")
			}
			running.Add(1)
			time.Sleep(time.Millisecond)
			running.Add(-1)
			done.Add(1)
		})
	}()
	if n := running.Load(); n != 0 {
		t.Fatalf("%d parts still running after run unwound", n)
	}
	before := done.Load()
	time.Sleep(20 * time.Millisecond)
	if after := done.Load(); after != before {
		t.Fatalf("%d parts ran after run unwound", after-before)
	}
	var next atomic.Int32
	run(2, func(int) { next.Add(1) })
	if next.Load() != 2 || !team.busy.TryLock() {
		t.Fatal("the team did not take the next op")
	}
	team.busy.Unlock()
}

// onHelper reports whether the calling goroutine is one of the team's helpers.
func onHelper() bool {
	pc := make([]uintptr, 64)
	frames := runtime.CallersFrames(pc[:runtime.Callers(1, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, "(*helper).loop") {
			return true
		}
		if !more {
			return false
		}
	}
}

// BenchmarkPassesInChain times element-wise passes (a Mul, then an Add, ten times over) on
// three buffers of a U-Net's activation size ([784 32 16], 1.6 MB each), one after another
// as a training step runs them: on the team, and on goroutines of their own (the team held
// busy), per pass.
func BenchmarkPassesInChain(b *testing.B) {
	const n = 784 * 32 * 16
	x, y, z := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], y[i] = 1, 1
	}
	chain := func() {
		for range 10 {
			inChunks(n, func(lo, hi int) { opMul.vecN(z[lo:hi], x[lo:hi], y[lo:hi]) })
			inChunks(n, func(lo, hi int) { opAdd.vecN(x[lo:hi], z[lo:hi], y[lo:hi]) })
		}
	}
	for _, onTeam := range []bool{true, false} {
		b.Run(fmt.Sprintf("team=%v", onTeam), func(b *testing.B) {
			if !onTeam {
				team.busy.Lock()
				defer team.busy.Unlock()
			}
			for range b.N {
				chain()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(20*b.N), "us/pass")
		})
	}
}
