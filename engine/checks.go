package engine

import (
	"fmt"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Checks of a job that span several of its plugins and settings; Prepare runs them, so their
// errors come before anything is written.

// checkZeroTerminalSNR refuses what cannot work on a chain that ends at alpha_bar = 0: an eps
// (or mu) prediction, from which x_0 at t = T would be 0/0 (Lin et al. 2024 switch to v), and
// Heun, whose correction is taken at sigma = infinity.
func (j *Job) checkZeroTerminalSNR() error {
	if !j.Process.ZeroTerminalSNR() {
		return nil
	}
	if n, ok := j.Predictor.(plugins.TargetNamer); !ok || (n.TargetName() != "v" && n.TargetName() != "x0") {
		return fmt.Errorf("[schedule] zero_terminal_snr needs [predictor] name = \"v\" or \"x0\": with alpha_bar_T = 0 " +
			"the network's eps at t = T says nothing about x_0")
	}
	if j.Trial.Section("sample").Name == "heun" {
		return fmt.Errorf("[sample] heun cannot start at sigma = infinity (zero_terminal_snr); use euler, dpmpp_2m, ddim or an ancestral sampler")
	}
	return nil
}

// checkEMARates refuses a list of EMA rates with a zero (no EMA) or a repeated rate.
func (j *Job) checkEMARates() error {
	rates := j.Trial.Train().Floats("ema")
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
