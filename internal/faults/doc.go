// Package faults holds the fault-injection suite of ddpm-runner (its tests only). It runs
// the runner binary on a tiny spec and sends SIGINT, SIGTERM or SIGKILL at a random point of
// a chosen phase of one of these commands (the scenarios):
//
//   - run: training, a checkpoint write, sampling, each metric, the final write; for every
//     timestep sampler and loss;
//   - run --jobs 2 over two seeds, the signal to the parent alone or to its whole process
//     group: while the children run, while the parent merges their shards, while it cleans up;
//   - merge of a shard (two finished runs, one interrupted) into a database: checking,
//     copying, inserting, renaming, cleaning;
//   - rerun --verify: every phase of the rerun and the verification;
//   - sample from a finished run: copying the checkpoint, sampling, each metric, the final
//     write;
//   - run of a trial evaluated during training ([eval] every, train.keep = "best:nll_nats_per_dim"):
//     its second evaluation, whose histories and kept checkpoint must also come out as an
//     uninterrupted run's.
//
// After each fault, once every process of the command has ended, it checks what must hold:
// the databases are intact (PRAGMA integrity_check) and every run's status is true once a
// writing command has recorded crashed runs (none running; an interrupted training run has
// a checkpoint). Then it completes the work as documented (the same command with --resume;
// merge again; runner resume on an interrupted rerun or sample run) and checks that every
// expected run finished once, with the loss history and summaries of an uninterrupted
// reference bit for bit, nothing duplicated and nothing left half-done (scratch shards,
// staging folders); a verification's verdict is only ever "pending" or true.
//
// Each fault proves where it landed. The runner, with $DDPM_TRACE_PHASES naming a folder,
// writes each process's phase trace to FOLDER/PID.trace (see tracePhases in cli): "phase:
// NAME" at a phase's start, "phase end: NAME" at its end, and, from a handler that only
// observes, "phase signalled (SIG): NAME" for a SIGINT or SIGTERM. A fault counts as a hit
// only when the complete trace, read after every process of the command's group has ended,
// shows it in the aimed phase: the handler's line names the phase, in the occurrence the
// signal was sent in, or, for SIGKILL, the process died by it and its trace ends inside the
// phase. A fault that missed (the process or the phase had already ended) still has its
// invariants checked, and is retried with no delay, then with the phase lengthened by
// $DDPM_TRACE_PAUSE (a test-only sleep right after the phase's start that changes no
// result). The plan visits the scenarios in turn and each one's phase x signal x target
// cells in a shuffled order; the test logs the hits and misses per cell and fails when a
// planned cell was never hit.
//
//	go test ./internal/faults -faults.n 200 -timeout 60m -v  # 200 iterations (the default is 12)
//	go test ./internal/faults -faults.every -v               # every cell once (.ci/run)
//	go test ./internal/faults -faults.cells '^merge'         # only the matching cells
package faults
