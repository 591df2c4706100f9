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
	out := make([]float64, max(n, 0))
	if n <= 0 {
		return out // numpy gives an empty array too
	}
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

// checkBetas rejects schedules whose betas leave (0, 1] (as improved-diffusion's assertion
// does): a beta of 0 makes the posterior variance vanish, and one above 1 makes alpha
// negative. keys are the parameters that set the betas, named in the error.
func checkBetas(name string, betas []float64, keys ...string) ([]float64, error) {
	for i, b := range betas {
		if !(b > 0 && b <= 1) {
			return nil, fmt.Errorf("schedule %s at T = %d: beta_%d = %g is outside (0, 1]; change %s",
				name, len(betas), i+1, b, quoteKeys(append([]string{"T"}, keys...)))
		}
	}
	return betas, nil
}

// quoteKeys writes keys as `"a", "b" or "c"`.
func quoteKeys(keys []string) string {
	out := ""
	for i, k := range keys {
		switch {
		case i == 0:
		case i == len(keys)-1:
			out += " or "
		default:
			out += ", "
		}
		out += fmt.Sprintf("%q", k)
	}
	return out
}

func checkT(name string, T int) error {
	if T < 1 {
		return fmt.Errorf("schedule %s: key \"T\" = %d, want T >= 1", name, T)
	}
	return nil
}
