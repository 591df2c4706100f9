// Package schedules holds the beta-schedule plugins, one file each. Importing the package
// (usually blank) registers them all.
//
// A schedule only produces beta_1..beta_T in float64; every quantity derived from the betas
// (alpha_bar, posterior variance and its clipped log, posterior mean coefficients) is
// computed in one place, diffusion.NewProcess.
//
// Every schedule takes the number of steps T from the [schedule] table of a spec; the other
// keys of that table are the plugin's own parameters.
package schedules

import "fmt"

// linspace returns n points evenly spaced from start to stop inclusive, computed the way
// numpy.linspace does (start + i*step, with the last point set to stop exactly), so that
// the schedules match the reference implementations bit for bit where they can.
func linspace(start, stop float64, n int) []float64 {
	out := make([]float64, n)
	if n == 1 {
		out[0] = start
		return out
	}
	step := (stop - start) / float64(n-1)
	for i := range out {
		out[i] = start + float64(i)*step
	}
	out[n-1] = stop
	return out
}

// checkBetas rejects schedules whose betas leave (0, 1]: a beta of 0 makes the posterior
// variance vanish, and one above 1 makes alpha negative.
func checkBetas(name string, betas []float64) ([]float64, error) {
	for i, b := range betas {
		if !(b > 0 && b <= 1) {
			return nil, fmt.Errorf("schedule %s: beta_%d = %g is outside (0, 1]; adjust its parameters", name, i+1, b)
		}
	}
	return betas, nil
}

func checkT(name string, T int) error {
	if T < 1 {
		return fmt.Errorf("schedule %s: T = %d, want T >= 1", name, T)
	}
	return nil
}
