// Package engine runs one trial: it builds the plugins a resolved spec names, wires them into
// a GoMLX train.Trainer, runs the training loop with its hooks (progress, batched metric
// logging, checkpoints, NaN guard, signals), samples and evaluates with the EMA weights, and
// records it all through package results.
package engine
