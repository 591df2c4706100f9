// Package faults holds the fault-injection suite of ddpm-runner (its tests only): it runs
// the runner binary on a tiny spec, sends SIGINT, SIGTERM or SIGKILL at a random point of a
// chosen phase (training, a checkpoint write, sampling, each metric, the final write), and
// checks what must hold after any fault: the database is intact, every run's status is
// true, and resume finishes with the loss history and summaries of an uninterrupted run,
// bit for bit, for every timestep sampler and loss.
//
//	go test ./internal/faults -faults.n 200   # 200 iterations (the default is a short run)
package faults
