// Package predictors holds the predictor plugins: what the network's mean output means (eps,
// x0, mu or v) and how its variance is chosen (fixed_small, fixed_large, learned,
// learned_range). Importing the package registers eps, x0, mu and v, each taking a
// `variance` parameter.
package predictors
