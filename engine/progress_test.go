package engine

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgressRateCountsOnlyThisProcessesSteps: a run resumed after step 900 of 1000 that
// trained its 100 steps in 10 s shows 10 steps/s, not the 100 that counting from 0 gives.
func TestProgressRateCountsOnlyThisProcessesSteps(t *testing.T) {
	for _, c := range []struct {
		done int
		want string
	}{{0, "step 1000/1000  loss 0.5  100.0 steps/s"}, {900, "step 1000/1000  loss 0.5  10.0 steps/s"}} {
		var out bytes.Buffer
		p := newProgress(&out, "run 1", c.done, 1000)
		p.start = time.Now().Add(-10 * time.Second)
		p.step(1000, 0.5)
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("resumed after %d: %q, want %q", c.done, out.String(), c.want)
		}
	}
}
