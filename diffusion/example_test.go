package diffusion_test

import (
	"fmt"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
)

// A Process derives every per-step quantity of the chain from its betas once, in float64;
// index t is the paper's step t+1.
func ExampleNewProcess() {
	p, err := diffusion.NewProcess([]float64{0.1, 0.2, 0.5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("alpha_bar          %.4f\n", p.AlphaBar)
	fmt.Printf("sqrt(1-alpha_bar)  %.4f\n", p.SqrtOneMinusAlphaBar)
	fmt.Printf("posterior variance %.4f\n", p.PosteriorVariance)

	_, err = diffusion.NewProcess([]float64{0.1, 1.5})
	fmt.Println(err)
	// Output:
	// alpha_bar          [0.9000 0.7200 0.3600]
	// sqrt(1-alpha_bar)  [0.3162 0.5292 0.8000]
	// posterior variance [0.0000 0.0714 0.2187]
	// diffusion: beta_2 = 1.5 is outside (0, 1]
}
