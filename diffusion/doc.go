// Package diffusion is the mathematics of DDPM (Ho et al. 2020) and Improved DDPM (Nichol &
// Dhariwal 2021) in one readable place, in the spirit of improved-diffusion's
// gaussian_diffusion.py, each formula beside its equation:
//
//   - process.go: Process, the per-step constants of a schedule (float64), the prior term L_T.
//   - graph.go: the graph functions of the forward process q(x_t | x_0), the posterior
//     q(x_{t-1} | x_t, x_0), the conversions between x_0, eps, v and mu, the Gaussian KL and
//     the decoder likelihoods.
//   - parameterization.go: what the network's output means, as tables: the mean
//     parameterisations (eps, x0, mu, v: MeanType) and the variance ones (fixed_small,
//     fixed_large, learned, learned_range: VarType), which the predictor plugins name.
//   - diffusion.go: Diffusion, the object that joins a Process, a Parameterization and the
//     kind of data (improved-diffusion's GaussianDiffusion), with the reverse process
//     p(x_{t-1} | x_t) (PMeanVariance) and the sampling steps (PSample, DDIMSample).
//   - vlb.go: the variational-bound term L_t (VLBTerm), the one function the losses, the
//     logged L_t and the bound use.
//   - losses.go: the training losses (MSE, SimpleLoss, VLBLoss, HybridLoss).
//   - bound.go: the full bound on held-out data (Bound, improved-diffusion's calc_bpd_loop).
//
// The package imports nothing of ddpm-runner: the plugins and the engine use it.
//
// Notation: steps are indexed t = 0..T-1 in code, which is the paper's t = 1..T. x_0 is data,
// alpha_bar_t = prod_{s<=t} (1 - beta_s).
package diffusion
