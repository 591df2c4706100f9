// Package predictors registers the predictor plugins eps, x0, mu and v: one per mean
// parameterisation of package diffusion (what the network's mean output means), each with a
// `variance` parameter naming one of diffusion's variance parameterisations (fixed_small,
// fixed_large, learned, learned_range). The formulas live in diffusion, beside their
// equations; this package is only the table that names them.
package predictors
