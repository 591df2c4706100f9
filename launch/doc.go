// Package launch runs trials elsewhere and brings their runs home: the shard databases that
// runner run --jobs children and Slurm array tasks write are merged into the main database
// through one path (MergeShard, and MergeShards for a list of them), which knows whether the
// shard's writers are known to have ended and handles the stop signals (StopSignals).
//
// The --jobs child processes themselves (starting them, their scratch folder, forwarding
// signals) are still in package cli, and the Slurm sweep folder is package sweep.
package launch
