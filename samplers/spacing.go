package samplers

import (
	"fmt"
	"math"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
)

// Timestep spacings, as diffusers names them.
const (
	// SpacingLinspace spreads k steps evenly over 0..T-1, first and last included, exactly
	// as improved-diffusion's space_timesteps does for one section (see SpacedTimesteps).
	SpacingLinspace = "linspace"
	// SpacingLeading takes every (T div k)-th step from 0: 0, r, ..., (k-1) r. It never
	// visits T-1, so sampling starts below the noisiest step (diffusers' "leading" with
	// steps_offset 0; Lin et al. 2024 point out the cost).
	SpacingLeading = "leading"
	// SpacingTrailing counts down from T-1 in strides of T/k: round(T (k-j)/k) - 1 for
	// j = 0..k-1, rounded half to even as numpy does (diffusers' "trailing"), computed on
	// integers so that no float drift adds or drops a step.
	SpacingTrailing = "trailing"
	// SpacingDDIM is improved-diffusion's "ddimK": 0, s, 2s, ... with the smallest integer
	// stride s that gives exactly k steps (ceil(T/s) = k), an error where none does. It is
	// leading wherever k divides T; elsewhere its stride can be one larger (T = 250, k = 20
	// strides by 13 where leading strides by 12).
	SpacingDDIM = "ddim"
)

// Spacings lists the valid spacing names.
var Spacings = []string{SpacingLinspace, SpacingLeading, SpacingTrailing, SpacingDDIM}

// Timesteps picks k of the timesteps 0..T-1 by the named spacing, in increasing order.
func Timesteps(T, k int, spacing string) ([]int, error) {
	if k < 1 || k > T {
		return nil, fmt.Errorf("cannot take %d steps out of T = %d (want 1 <= steps <= T)", k, T)
	}
	out := make([]int, k)
	switch spacing {
	case SpacingLinspace, "":
		return SpacedTimesteps(T, k)
	case SpacingLeading:
		r := T / k
		for i := range out {
			out[i] = i * r
		}
	case SpacingTrailing:
		for j := range k {
			num := T * (k - j)
			q, rem := num/k, num%k
			if 2*rem > k || 2*rem == k && q%2 == 1 {
				q++
			}
			out[k-1-j] = q - 1
		}
	case SpacingDDIM:
		// The first stride from 1 up with exactly k multiples below T, searched as
		// improved-diffusion does (up to T-1, so one step out of T > 1 has none).
		for s := 1; s <= max(1, T-1); s++ {
			if (T+s-1)/s == k {
				for i := range out {
					out[i] = i * s
				}
				return out, nil
			}
		}
		return nil, fmt.Errorf("spacing ddim: no integer stride takes exactly %d steps out of T = %d (leading or linspace can)", k, T)
	default:
		return nil, fmt.Errorf("unknown spacing %q (valid: %s)", spacing, strings.Join(Spacings, ", "))
	}
	return out, nil
}

// SpacedTimesteps picks k timesteps out of 0..T-1, evenly spaced and always including the
// first and last, exactly as improved-diffusion's space_timesteps does for one section: the
// fractional index starts at 0.0 and grows by the float64 stride (T-1)/(k-1) at every step,
// and each index is rounded half to even (Python's round). The sum is accumulated rather
// than computed as i times the stride because the reference does so, and the two can land on
// either side of a tie: numpy's linspace(0, T-1, k).round() multiplies, and keeps 24 where
// improved-diffusion keeps 25 for T = 50, k = 25 (12 x 49/24 is 24.5 exactly, the twelfth sum
// is just above it). Rounding ties away from zero, as this function did before, kept 167 and
// 833 for T = 1000, k = 25 where the reference keeps 166 and 832.
//
// One step (k = 1) is T-1, the noisiest step, where improved-diffusion (and numpy) take 0:
// a one-step chain that started at t = 0 would not denoise at all.
func SpacedTimesteps(T, k int) ([]int, error) {
	if k < 1 || k > T {
		return nil, fmt.Errorf("cannot take %d steps out of T = %d (want 1 <= steps <= T)", k, T)
	}
	if k == 1 {
		return []int{T - 1}, nil
	}
	stride := float64(T-1) / float64(k-1)
	out := make([]int, k)
	idx := 0.0
	for i := range out {
		out[i] = int(math.RoundToEven(idx))
		idx += stride
	}
	return out, nil
}

// Respace derives the process that visits only the given timesteps: alpha_bar is kept at
// each visited step and beta_i = 1 - alpha_bar_{t_i} / alpha_bar_{t_{i-1}}.
func Respace(p *diffusion.Process, timesteps []int) (*diffusion.Process, error) {
	betas := make([]float64, len(timesteps))
	last := 1.0
	for i, t := range timesteps {
		betas[i] = 1 - p.AlphaBar[t]/last
		last = p.AlphaBar[t]
	}
	q, err := diffusion.NewProcess(betas)
	if q != nil {
		q.Rescaled = p.Rescaled
	}
	return q, err
}

// plan is the process and timesteps of a sampler that runs k steps with a spacing: the
// original chain itself when that visits every step.
func plan(p *diffusion.Process, k int, spacing string) (*diffusion.Process, []int, error) {
	if k == 0 {
		k = p.T
	}
	ts, err := Timesteps(p.T, k, spacing)
	if err != nil {
		return nil, nil, err
	}
	if k == p.T {
		return p, ts, nil // every spacing of T steps out of T is 0..T-1
	}
	q, err := Respace(p, ts)
	return q, ts, err
}

// Spaced is the part every spaced sampler shares: how many of the T steps it visits and
// which (see Timesteps). Its Plan is theirs.
type Spaced struct {
	Steps   int    // 0: all T steps
	Spacing string // linspace (""), leading, trailing or ddim
}

// Plan implements the first half of plugins.Sampler: the respaced process and the
// original timesteps it visits.
func (s Spaced) Plan(p *diffusion.Process) (*diffusion.Process, []int, error) {
	return plan(p, s.Steps, s.Spacing)
}
