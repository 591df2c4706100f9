package report_test

import (
	"fmt"

	"github.com/ddpm-runner/ddpm-runner/report"
)

// A group's value over its seeds: mean, standard deviation and the 95% interval's half-width
// from Student's t with n - 1 degrees of freedom.
func ExampleSummarize() {
	s := report.Summarize([]float64{4.1, 4.3, 4.2})
	fmt.Printf("mean %.3f, sd %.3f, 95%% CI ± %.3f over %d seeds\n", s.Mean, s.Std, s.CI95, s.N)
	// Output:
	// mean 4.200, sd 0.100, 95% CI ± 0.248 over 3 seeds
}

// Two groups are compared on their per-seed differences (B - A over the seeds both ran): the
// paired t test gives the mean difference, its 95% interval and the two-sided p-value.
func ExamplePairedT() {
	a := []float64{4.31, 4.52, 4.18}
	b := []float64{4.02, 4.16, 3.83}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = b[i] - a[i]
	}
	mean, lo, hi, p := report.PairedT(d)
	fmt.Printf("B - A = %.3f, 95%% CI [%.3f, %.3f], p = %.4f\n", mean, lo, hi, p)
	// Output:
	// B - A = -0.333, 95% CI [-0.427, -0.239], p = 0.0043
}
