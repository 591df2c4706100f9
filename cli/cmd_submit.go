package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/internal/shell"
	"github.com/ddpm-runner/ddpm-runner/launch"
	"github.com/ddpm-runner/ddpm-runner/sweep"
)

func submitCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "submit",
		Usage:     "run a sweep's trials as a Slurm job array, one shard database per trial",
		ArgsUsage: "SPEC...",
		Description: "The specs are resolved and checked as by runner run; then a sweep folder is made (see --sweep) with\n" +
			"copies of the specs and of this runner binary, and job.sbatch, whose array task K runs trial K\n" +
			"(`runner run --resume --trial K`) into shards/trial-K.db. --dry-run writes it all without submitting;\n" +
			"--print lists the per-trial commands for another launcher (Kubernetes, GNU parallel) instead.\n" +
			"--wait blocks until the array ends and merges the shards into --db. --resume SWEEP submits again\n" +
			"only the trials with no finished (or diverged) run that are not queued, after checking that the folder\n" +
			"is as submitted: sweep.json is sealed with a key in your configuration folder, and the runner binary\n" +
			"and spec copies must have the sha256 it records (job.sbatch checks them too before each task).",
		Flags: []urfave.Flag{
			dbFlag(),
			&urfave.BoolFlag{Name: "slurm", Usage: "submit to Slurm with sbatch (the only scheduler so far; --print covers the others)"},
			&urfave.StringFlag{Name: "sweep", Usage: "the sweep folder to make (default results/sweeps/<first spec>-<UTC time>)"},
			&urfave.StringFlag{Name: "resume", Usage: "resubmit the unfinished trials of this sweep folder"},
			setFlag(),
			backendFlag(),
			&urfave.StringFlag{Name: "partition", Usage: "sbatch --partition"},
			&urfave.StringFlag{Name: "time", Usage: "sbatch --time, the time limit per task (for example 2:00:00)"},
			&urfave.IntFlag{Name: "cpus-per-task", Usage: "sbatch --cpus-per-task"},
			&urfave.StringFlag{Name: "mem", Usage: "sbatch --mem, memory per task (for example 8G)"},
			&urfave.StringFlag{Name: "gres", Usage: "sbatch --gres, for example gpu:1"},
			&urfave.IntFlag{Name: "max-parallel", Usage: "at most this many tasks at once (the array's %N; 0: no cap)"},
			&urfave.StringSliceFlag{Name: "sbatch", Usage: "one more sbatch option for job.sbatch, its value after '=', for example --sbatch --account=lab (repeatable)"},
			&urfave.IntFlag{Name: "signal-grace", Value: 120, Usage: "seconds before the time limit at which tasks get SIGTERM (they checkpoint and are requeued)"},
			&urfave.StringFlag{Name: "runner", Usage: "the runner binary the tasks run (default: this one); it is copied into the sweep folder"},
			&urfave.BoolFlag{Name: "dry-run", Usage: "write the sweep folder and job.sbatch, print the sbatch command, submit nothing"},
			&urfave.BoolFlag{Name: "print", Usage: "write the sweep folder and print one command per trial, submit nothing"},
			&urfave.BoolFlag{Name: "wait", Usage: "wait for the array to end, then merge the shards into --db"},
		},
		Action: func(c *urfave.Context) error {
			return runSubmit(c.Context, submitOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
		},
	})
}

// submitOptions are runner submit's flags.
type submitOptions struct {
	db      string
	slurm   bool
	sweep   string
	resume  string
	sets    []string
	backend string
	sbatch  sweep.Slurm // --partition, --time, --cpus-per-task, --mem, --gres, --max-parallel, --sbatch, --signal-grace
	cpusSet bool        // --cpus-per-task was given
	runner  string
	dryRun  bool
	print   bool
	wait    bool
}

func submitOptionsFrom(c *urfave.Context) submitOptions {
	return submitOptions{
		db: c.String("db"), slurm: c.Bool("slurm"), sweep: c.String("sweep"), resume: c.String("resume"),
		sets: c.StringSlice("set"), backend: c.String("backend"),
		sbatch: sweep.Slurm{Partition: c.String("partition"), Time: c.String("time"), CPUs: c.Int("cpus-per-task"), Mem: c.String("mem"),
			Gres: c.String("gres"), MaxParallel: c.Int("max-parallel"), GraceSecs: c.Int("signal-grace"), Extra: c.StringSlice("sbatch")},
		cpusSet: c.IsSet("cpus-per-task"), runner: c.String("runner"),
		dryRun: c.Bool("dry-run"), print: c.Bool("print"), wait: c.Bool("wait"),
	}
}

// runSubmit makes a sweep folder for the specs, or reopens the one to resume, then lists
// its tasks' commands (--print) or submits them as a Slurm job array.
func runSubmit(ctx context.Context, opts submitOptions, gopts globalOptions, specs []string) error {
	if !opts.slurm && !opts.print {
		return usagef("submit needs --slurm (submit a Slurm job array) or --print (list the per-trial commands for another launcher)")
	}
	var f *sweep.Folder
	var indices []int
	var err error
	if dir := opts.resume; dir != "" {
		if f, indices, err = reopenSweep(opts, specs, dir); err != nil {
			return err
		}
		if len(indices) == 0 {
			fmt.Fprintf(gopts.stderr, "sweep %s: every trial is finished or queued; nothing to resubmit\n", f.Dir)
			if opts.wait {
				return waitAndMerge(ctx, opts.db, gopts, f, sweepJobIDs(f))
			}
			return nil
		}
	} else if f, indices, err = newSweep(opts, gopts, specs); err != nil {
		return err
	}
	if opts.print {
		for _, k := range indices {
			fmt.Fprintln(gopts.stdout, shell.Join(f.TaskArgs(k)))
		}
		fmt.Fprintf(gopts.stderr, "sweep folder %s (%d trials); merge the shards with `runner merge %s`\n", f.Dir, len(indices), shell.Quote(f.Dir))
		return nil
	}
	return submitArray(ctx, opts, gopts, f, indices)
}

// reopenSweep opens the sweep folder dir of --resume (checked whole, see sweep.Open) and
// returns the indices of its trials to submit again: those not done and not in Slurm's queue.
func reopenSweep(opts submitOptions, specs []string, dir string) (*sweep.Folder, []int, error) {
	if len(specs) > 0 {
		return nil, nil, usagef("--resume %s takes no SPEC: the sweep folder holds its specs", dir)
	}
	f, err := sweep.Open(dir)
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	queued, err := queuedTasks(f)
	if err != nil && opts.slurm {
		return nil, nil, usagef("cannot ask squeue which of the sweep's trials are still queued (%v); resubmitting could run a trial twice", err)
	}
	var indices []int
	for _, st := range f.States() {
		if !st.Done() && queued[st.Index] == "" {
			indices = append(indices, st.Index)
		}
	}
	return f, indices, nil
}

// newSweep resolves and checks the specs as runner run does, then makes the sweep folder
// (--sweep, or one named after the first spec and the time) with every trial to submit.
func newSweep(opts submitOptions, gopts globalOptions, specs []string) (*sweep.Folder, []int, error) {
	if len(specs) == 0 {
		return nil, nil, usagef("submit needs at least one SPEC file (or --resume SWEEP)")
	}
	// The cluster's nodes may have what this machine lacks (a GPU and its plugin): a
	// backend unusable here is a warning, and each task checks it where it runs.
	jobs, err := loadJobs(specs, opts.sets, opts.backend, gopts.stderr)
	if err != nil {
		return nil, nil, err
	}
	bin := opts.runner
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return nil, nil, fmt.Errorf("finding this runner binary: %w (give --runner)", err)
		}
	}
	dir := opts.sweep
	if dir == "" {
		base := strings.TrimSuffix(filepath.Base(specs[0]), filepath.Ext(specs[0]))
		dir = filepath.Join("results", "sweeps", base+"-"+time.Now().UTC().Format("20060102T150405"))
	}
	if opts.cpusSet && opts.sbatch.CPUs < 1 {
		return nil, nil, usagef("--cpus-per-task %d: give a positive number of CPUs per task (or leave it out)", opts.sbatch.CPUs)
	}
	f, err := sweep.Create(dir, specs, opts.sets, opts.backend, len(jobs), bin, opts.sbatch)
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	var indices []int
	for k := 1; k <= len(jobs); k++ {
		indices = append(indices, k)
	}
	return f, indices, nil
}

// submitArray writes the sweep's job.sbatch and submits the trials of the given indices as
// one job array (or prints the sbatch command, --dry-run), recording the job in sweep.json;
// with --wait it then waits for the array and merges the shards.
func submitArray(ctx context.Context, opts submitOptions, gopts globalOptions, f *sweep.Folder, indices []int) error {
	script, err := f.WriteScript()
	if err != nil {
		return err
	}
	array := sweep.ArraySpec(indices, f.Slurm.MaxParallel)
	args := []string{"--parsable", "--array=" + array, script}
	if opts.dryRun {
		fmt.Fprintf(gopts.stdout, "sbatch %s\n", shell.Join(args))
		fmt.Fprintf(gopts.stderr, "sweep folder %s: job.sbatch written, nothing submitted (--dry-run)\n", f.Dir)
		return nil
	}
	sbatch, err := exec.LookPath("sbatch")
	if err != nil {
		return usagef("sbatch not found on PATH: submit from a Slurm login node (the sweep folder %s is written; --dry-run shows the command)", f.Dir)
	}
	out, err := exec.Command(sbatch, args...).CombinedOutput()
	if err != nil {
		return urfave.Exit(fmt.Sprintf("sbatch failed: %v: %s", err, strings.TrimSpace(string(out))), exitRunFail)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
	if !sweep.ValidJobID(id) {
		return urfave.Exit(fmt.Sprintf("sbatch answered %q, not a job id; the job may have been submitted (see squeue)", strings.TrimSpace(string(out))), exitRunFail)
	}
	f.Jobs = append(f.Jobs, sweep.Job{ID: id, Indices: array, Submitted: time.Now().UTC().Format(time.RFC3339)})
	if err := f.Save(); err != nil {
		return err
	}
	fmt.Fprintf(gopts.stdout, "submitted job %s (array %s), sweep folder %s\n", id, array, f.Dir)
	if opts.wait {
		return waitAndMerge(ctx, opts.db, gopts, f, []string{id})
	}
	return nil
}

// waitAndMerge waits until none of the jobs is in the queue, merges the sweep's shards into
// --db and says which trials did not finish.
func waitAndMerge(ctx context.Context, db string, gopts globalOptions, f *sweep.Folder, jobs []string) error {
	for len(jobs) > 0 {
		out, err := exec.Command("squeue", "-h", "-j", strings.Join(jobs, ","), "-o", "%i").Output()
		if err != nil || strings.TrimSpace(string(out)) == "" {
			break // squeue forgets ended jobs: "Invalid job id"
		}
		time.Sleep(2 * time.Second)
	}
	shards, err := shardsOf(f.Dir)
	if err != nil {
		return usagef("%v", err)
	}
	store, err := openForWriting(db, gopts.stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	failed := launch.MergeShards(ctx, gopts.stderr, store, shards, tracePhases(gopts.stderr))
	var missing []string
	for _, st := range f.States() {
		if !st.Done() {
			missing = append(missing, fmt.Sprintf("%d (%s)", st.Index, orNone(st.Status)))
		}
	}
	if failed > 0 || len(missing) > 0 {
		return urfave.Exit(fmt.Sprintf("sweep %s: %d shard(s) not merged; trials not finished: %s (resubmit with `runner submit --slurm --resume %s`)",
			f.Dir, failed, orNone(strings.Join(missing, ", ")), shell.Quote(f.Dir)), exitRunFail)
	}
	fmt.Fprintf(gopts.stderr, "sweep %s: all %d trials finished and merged into %s\n", f.Dir, f.Trials, store.Path)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// sweepJobIDs is the ids of every job array submitted for the sweep.
func sweepJobIDs(f *sweep.Folder) []string {
	var ids []string
	for _, j := range f.Jobs {
		ids = append(ids, j.ID)
	}
	return ids
}

// queuedTasks maps the trial indices that the sweep's jobs still have in Slurm's queue to
// their state (PENDING, RUNNING, ...). The whole queue is listed and filtered, since squeue
// -j fails on ids it has forgotten. Without jobs it is empty; an error means squeue did not
// answer.
func queuedTasks(f *sweep.Folder) (map[int]string, error) {
	out := map[int]string{}
	ours := map[string]bool{}
	for _, id := range sweepJobIDs(f) {
		ours[id] = true
	}
	if len(ours) == 0 {
		return out, nil
	}
	b, err := exec.Command("squeue", "-h", "-r", "-o", "%i %T").Output()
	if err != nil {
		return out, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		id, state, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		job, task, ok := strings.Cut(id, "_")
		var k int
		if ok && ours[job] {
			if _, err := fmt.Sscanf(task, "%d", &k); err == nil {
				out[k] = state
			}
		}
	}
	return out, nil
}
