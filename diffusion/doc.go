// Package diffusion is the mathematics of DDPM (Ho et al. 2020) and Improved DDPM (Nichol &
// Dhariwal 2021) in one readable place, in the spirit of improved-diffusion's
// gaussian_diffusion.py: the per-step constants of a schedule (Process, float64), and the
// graph functions of the forward process, the posterior, the parameterisation conversions,
// Gaussian KLs, the decoder likelihoods and the variational bound.
//
// Notation: steps are indexed t = 0..T-1 in code, which is the paper's t = 1..T. x_0 is data,
// alpha_bar_t = prod_{s<=t} (1 - beta_s).
package diffusion
