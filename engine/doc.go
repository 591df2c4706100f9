// Package engine runs one trial: it builds the plugins a resolved spec names (through the
// registry and the contracts of package plugins only), wires them into a GoMLX
// train.Trainer, runs the training loop with its hooks (progress, batched metric logging,
// checkpoints, NaN guard, a cancellable context), samples and evaluates with the EMA
// weights, and records it all through package results. Signals are the caller's business:
// the CLI turns SIGINT and SIGTERM into the cancellation of the context given to Run.
package engine
