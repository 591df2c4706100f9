// Package engine runs one trial: it builds the plugins a resolved spec names (through the
// registry and the contracts of package plugins only), wires them into a GoMLX
// train.Trainer, runs the training loop with its hooks (progress, batched metric logging,
// checkpoints, NaN guard, a cancellable context), samples and evaluates with the EMA
// weights, and records it all through package results. Signals are the caller's business:
// the CLI turns SIGINT and SIGTERM into the cancellation of the context given to Run.
//
// The run's backend comes from package backend: the engine creates it from the trial's
// backend and the kernel its caller passes in Options, and asks it which convolution to
// build and what to record about it. The engine reads no kernel switch and sets nothing
// process-wide when it is imported.
package engine
