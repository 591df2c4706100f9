package engine_test

import (
	"math"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// The training options people ablate change nothing at their defaults, and something when
// set: min_snr with an unreachable gamma weighs every eps-MSE by SNR/SNR = 1 (the same bits
// as none), a small gamma changes the losses; offset noise changes them too.
func TestAblationOptionsDefaultsChangeNothing(t *testing.T) {
	h := newHarness(t)
	losses := func(sets ...string) []float64 {
		out := h.run(h.jobs(tiny, append([]string{"train.log_every=1"}, sets...)...)[0])
		if out.Status != results.StatusFinished {
			t.Fatalf("%v: %s %v", sets, out.Status, out.Err)
		}
		return h.losses(out.RunID)
	}
	base := losses()
	same := func(a, b []float64) bool {
		for i := range a {
			if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
				return false
			}
		}
		return len(a) == len(b)
	}
	for _, c := range []struct {
		sets []string
		same bool
	}{
		{[]string{"loss.weighting=none", "train.offset_noise=0"}, true},
		{[]string{"loss.weighting=min_snr", "loss.gamma=1e30"}, true},
		{[]string{"loss.weighting=min_snr", "loss.gamma=0.5"}, false},
		{[]string{"train.offset_noise=0.1"}, false},
	} {
		if got := losses(c.sets...); same(got, base) != c.same {
			t.Errorf("%v: losses equal to the defaults' = %v, want %v (first %v vs %v)", c.sets, !c.same, c.same, got[0], base[0])
		}
	}
}
