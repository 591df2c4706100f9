// Package faults holds the fault-injection suite of ddpm-runner (its tests only): it runs
// the runner binary on a tiny spec, sends SIGINT, SIGTERM or SIGKILL at a random point of a
// chosen phase (training, a checkpoint write, sampling, each metric, the final write), and
// checks what must hold after any fault: the database is intact, every run's status is
// true, and the same command run again (--resume) finishes the work with the loss history
// and summaries of an uninterrupted run, bit for bit, for every timestep sampler and loss,
// with no run duplicated.
//
// Each fault proves where it landed. The runner, with $DDPM_TRACE_PHASES naming a folder,
// writes each process's phase trace to FOLDER/PID.trace (see tracePhases in cli): "phase:
// NAME" at a phase's start, "phase end: NAME" at its end, and, from a handler that only
// observes, "phase signalled (SIG): NAME" for a SIGINT or SIGTERM. A fault counts as a hit
// only when the complete trace, read after every process of the command's group has ended,
// shows it in the aimed phase: the handler's line names the phase, or, for SIGKILL, the
// process died by it and its trace ends inside the phase. A fault that missed (the process
// or the phase had already ended) still has its invariants checked, and is retried with no
// delay, then with the phase lengthened by $DDPM_TRACE_PAUSE (a test-only sleep right after
// the phase's start that changes no result). The plan visits the scenarios in turn and
// each one's phase x signal x target cells in a shuffled order; the test logs the hits and
// misses per cell and fails when a planned cell was never hit.
//
//	go test ./internal/faults -faults.n 200 -timeout 60m -v  # 200 iterations (the default is 12)
//	go test ./internal/faults -faults.every -v               # every cell once (.ci/run)
//	go test ./internal/faults -faults.cells '^merge'         # only the matching cells
package faults
