// Package launch runs trials elsewhere and brings their runs home. runner run --jobs runs
// its trials in child processes of the runner (RunJobs): each child runs one trial into its
// own shard database in a scratch folder inside the database's artifact folder (or continues
// an interrupted run in the main database), the stop signals are forwarded to the children,
// which die with their parent (Pdeathsig, and TieToParent's watch of DDPM_JOBS_PARENT), and
// the shards are merged in trial order once all have ended; a scratch folder left by a killed
// runner is merged by the next command that runs trials on the database (RecoverScratch).
//
// The shard databases that --jobs children and Slurm array tasks write are merged into the
// main database through one path (MergeShard, and MergeShards for a list of them), which
// knows whether the shard's writers are known to have ended and handles the stop signals
// (StopSignals). What a trial needs under --resume is decided by the caller (cli's
// resumeTarget, passed as JobsOptions.ResumeTarget), and the Slurm sweep folder is package
// sweep.
package launch
