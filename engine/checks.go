package engine

import (
	"fmt"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Checks of a job that span several of its plugins and settings; Prepare runs them, so their
// errors come before anything is written.

// checkLossPredictor asks a loss that works with some predictors only whether it takes the
// trial's.
func (j *Job) checkLossPredictor(predictor plugins.Predictor) error {
	if pc, ok := j.Loss.(plugins.PredictorChecker); ok {
		if err := pc.CheckPredictor(predictor); err != nil {
			return fmt.Errorf("[loss] %s with [predictor] %s: %w", j.Trial.Section("loss").Name, j.Trial.Section("predictor").Name, err)
		}
	}
	return nil
}

// checkZeroTerminalSNR refuses what cannot work on a chain that ends at alpha_bar = 0: an eps
// (or mu) prediction, from which x_0 at t = T would be 0/0 (Lin et al. 2024 switch to v), and
// a sampler that says it cannot start there (plugins.ZeroSNRRefuser, as Heun does). A chain
// gets there by zero_terminal_snr, or by itself when a beta is 1 (linear at T = 20, jsd) or
// alpha_bar underflows; then the error names the schedule's key, and sched (nil for none)
// finds the smallest T that avoids it.
func (j *Job) checkZeroTerminalSNR(sched plugins.Schedule) error {
	p := j.Diffusion.Process
	if p.AlphaBar[p.T-1] != 0 {
		return nil
	}
	cause, needs := "[schedule] zero_terminal_snr", "[schedule] zero_terminal_snr needs"
	if !p.Rescaled {
		cause = j.zeroSNRCause(sched)
		needs = cause + "; that needs"
	}
	if !j.Diffusion.Mean.ReadsX0AtZeroSNR {
		return fmt.Errorf("%s [predictor] name = \"v\" or \"x0\": with alpha_bar_T = 0 "+
			"the network's eps at t = T says nothing about x_0 (samples and the bound would not be finite)", needs)
	}
	if r, ok := j.Sampler.(plugins.ZeroSNRRefuser); ok {
		why, instead := r.RefuseZeroSNR()
		return fmt.Errorf("[sample] %s %s (%s); %s", j.Trial.Section("sample").Name, why, cause, instead)
	}
	return nil
}

// zeroSNRCause says why a chain that was not rescaled ends at alpha_bar = 0, naming the
// schedule's key T and the smallest T (up to a bound) at which its betas stay below 1.
func (j *Job) zeroSNRCause(sched plugins.Schedule) string {
	p := j.Diffusion.Process
	c := j.Trial.Section("schedule")
	why := "alpha_bar underflows to 0"
	for i, b := range p.Betas {
		if b == 1 {
			why = fmt.Sprintf("beta_%d = 1", i+1)
			break
		}
	}
	msg := fmt.Sprintf("key \"T\" in [schedule]: %s at T = %d gives %s, so alpha_bar_T = 0", c.Name, p.T, why)
	if T, ok := smallestNonzeroT(sched, p.T+1); ok {
		return fmt.Sprintf("%s (T >= %d avoids it)", msg, T)
	}
	return msg
}

// maxT is the largest T a spec may set ([schedule] T).
const maxT = 100000

// smallestNonzeroT finds the smallest T >= from (up to maxT) at which sched's chain keeps
// alpha_bar_T > 0, assuming that once reached it stays so for larger T (as for the linear
// schedule, whose betas shrink with 1000/T): it doubles T until the chain is fine, then
// bisects, so it builds O(log T) schedules. sched may be nil.
func smallestNonzeroT(sched plugins.Schedule, from int) (int, bool) {
	if sched == nil || from > maxT {
		return 0, false
	}
	fine := func(T int) bool {
		betas, err := sched.Betas(T)
		if err != nil {
			return false
		}
		prod := 1.0
		for _, b := range betas {
			prod *= 1 - b
		}
		return prod > 0
	}
	lo, hi := from-1, from // fine(lo) is false or lo < from; find the first fine hi
	for !fine(hi) {
		if hi == maxT {
			return 0, false
		}
		lo, hi = hi, min(2*hi, maxT)
	}
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; fine(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, true
}

// checkEMARates refuses a list of EMA rates with a zero (no EMA) or a repeated rate.
func (j *Job) checkEMARates() error {
	rates := j.Trial.Settings.Train.EMA
	if len(rates) < 2 {
		return nil
	}
	seen := map[float64]bool{}
	for _, r := range rates {
		if r == 0 || seen[r] {
			return fmt.Errorf("[train] ema = %v: a list of EMA rates takes distinct rates in (0, 1) (0 means no EMA)", rates)
		}
		seen[r] = true
	}
	return nil
}
