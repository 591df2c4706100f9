package gokernels

import (
	"fmt"
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
