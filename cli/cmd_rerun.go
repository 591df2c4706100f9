package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os/signal"
	"slices"
	"strconv"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// signalContext is the context of a command that stops at a stop signal (stopSignals). Tests replace
// it to stop a command at a phase of their choosing, as a signal would.
var signalContext = func(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, stopSignals()...)
}

// recordedRun opens the database db and reads the run named by args, the one argument of
// command. The caller closes the store.
func recordedRun(command string, args []string, db string, errW io.Writer) (*results.Store, *results.Run, error) {
	if len(args) != 1 {
		return nil, nil, usagef("%s needs exactly one run ID (see runner report)", command)
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil {
		return nil, nil, usagef("%q is not a run ID", args[0])
	}
	store, err := openForRuns(db, errW, true)
	if err != nil {
		return nil, nil, err
	}
	r, err := store.Run(id)
	if err != nil {
		store.Close()
		return nil, nil, usagef("%v", err)
	}
	return store, r, nil
}

// jobOf rebuilds a recorded run's trial from its stored resolved spec, and checks it
// against --max-memory.
func jobOf(r *results.Run, maxMemory string) (*engine.Job, error) {
	t, err := spec.FromCanonical(r.Resolved)
	if err != nil {
		return nil, usagef("run %d: %v", r.ID, err)
	}
	t.File = r.SpecFile
	job, err := engine.Prepare(t)
	if err != nil {
		return nil, usagef("run %d: %v", r.ID, err)
	}
	// A chain started from [sample] noise is rebuilt from the same x_T or not at all.
	if want := r.Env[engine.NoiseSHA256EnvKey]; job.Noise != nil && want != "" && job.Noise.SHA256 != want {
		return nil, usagef("run %d started its samples from %s with sha256 %s; that file now has sha256 %s",
			r.ID, report.TerminalText(job.Noise.Path), want, job.Noise.SHA256)
	}
	if err := checkMemory([]*engine.Job{job}, maxMemory); err != nil {
		return nil, err
	}
	return job, nil
}

func rerunCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "rerun",
		Usage:     "run a recorded run again from its stored resolved spec (a new run)",
		ArgsUsage: "ID",
		Description: "With --verify, compares the new loss history (loss, mse, vlb_t at every logged step) and\n" +
			"summaries (all but those that measure the machine, as their declarations say) with the recorded run bit for bit and prints `identical` or the\n" +
			"first difference; the verdict is stored with the new run (env rerun.verdict). Exit 1 if they differ.\n" +
			"A rerun stopped by a signal has no verdict yet (pending): `runner resume` on it finishes it and verifies.",
		Flags: []urfave.Flag{dbFlag(), &urfave.BoolFlag{Name: "verify", Usage: "compare with the recorded run bit for bit"},
			&urfave.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"}, fastMatmulFlag(), maxMemoryFlag()},
		Action: func(c *urfave.Context) error {
			return runRerun(c.Context, rerunOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
		},
	})
}

// rerunOptions are runner rerun's flags.
type rerunOptions struct {
	db        string
	verify    bool
	quiet     bool
	matmul    matmulOptions
	maxMemory string
}

func rerunOptionsFrom(c *urfave.Context) rerunOptions {
	return rerunOptions{db: c.String("db"), verify: c.Bool("verify"), quiet: c.Bool("quiet"),
		matmul: matmulOptionsFrom(c), maxMemory: c.String("max-memory")}
}

// runRerun runs the recorded run that args names again from its stored resolved spec, as a
// new run, and with --verify compares the two.
func runRerun(ctx context.Context, opts rerunOptions, gopts globalOptions, args []string) error {
	store, orig, err := recordedRun("rerun", args, opts.db, gopts.stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	kernel := opts.matmul.followRecorded(gopts.stderr, orig)
	id := orig.ID
	job, err := jobOf(orig, opts.maxMemory)
	if err != nil {
		return err
	}
	ctx, stop := signalContext(ctx)
	defer stop()
	// The note goes in with the new run, so that a rerun stopped at any point is known
	// as one, and a verification stopped before its verdict as pending.
	note := map[string]string{rerunOfKey: strconv.FormatInt(id, 10)}
	if opts.verify {
		note[verdictKey] = verdictPending
	}
	eopts := engine.Options{Store: store, Progress: gopts.progress(opts.quiet), Phase: tracePhases(gopts.stderr), Env: note, Kernel: kernel}
	var out engine.Outcome
	if job.Trial.Kind == spec.KindSample {
		// A sample run is re-sampled from the same parent's weights, not retrained.
		parent, err := engine.ParentOf(store, orig)
		if err != nil {
			return usagef("%v", err)
		}
		out = engine.SampleFrom(ctx, job, parent, eopts)
	} else {
		out = engine.Run(ctx, job, eopts)
	}
	if out.RunID == 0 {
		var refused *engine.RefusedError
		if errors.As(out.Err, &refused) {
			return usagef("%v", refused)
		}
		return urfave.Exit(fmt.Sprintf("could not start the rerun of run %d: %v", id, out.Err), exitRunFail)
	}
	fmt.Fprintf(gopts.stderr, "run %d (rerun of %d): %s%s\n", out.RunID, id, out.Status, errSuffix(out.Err))
	if !opts.verify {
		if out.Status == results.StatusInterrupted {
			return urfave.Exit(fmt.Sprintf("interrupted: rerun %d of run %d stopped; continue it with `runner resume %d`", out.RunID, id, out.RunID), exitRunFail)
		}
		if out.Status != results.StatusFinished {
			return urfave.Exit(fmt.Sprintf("rerun of run %d %s", id, out.Status), exitRunFail)
		}
		return nil
	}
	return settleVerification(gopts, store, out.RunID, out.Status, eopts.Phase)
}

// The env keys of a rerun: the run it reruns, and with --verify the verdict.
const (
	rerunOfKey = "rerun.of"
	verdictKey = "rerun.verdict"
	// verdictPending is the verdict of a verification whose rerun has not ended: an
	// interrupted rerun proves nothing either way. `runner resume` finishes the rerun and
	// then gives the verdict.
	verdictPending = "pending"
)

// pendingVerificationOf reports whether r is the rerun of a `rerun --verify` that has no
// verdict yet, and the run it verifies.
func pendingVerificationOf(r *results.Run) (orig int64, ok bool) {
	if r.Env[verdictKey] != verdictPending {
		return 0, false
	}
	orig, err := strconv.ParseInt(r.Env[rerunOfKey], 10, 64)
	return orig, err == nil && orig > 0
}

// settleVerification gives the verdict of rerun --verify once its rerun (run id, which
// ended with status) is over, stores it in the rerun's env and prints it; exit 1 when the
// runs differ. An interrupted rerun keeps the verdict pending.
func settleVerification(gopts globalOptions, store *results.Store, id int64, status string, phase func(string)) error {
	rec, err := store.Run(id)
	if err != nil {
		return err
	}
	orig, err := strconv.ParseInt(rec.Env[rerunOfKey], 10, 64)
	if err != nil {
		return fmt.Errorf("run %d: env %s = %q is not a run id", id, rerunOfKey, rec.Env[rerunOfKey])
	}
	if status == results.StatusInterrupted {
		fmt.Fprintf(gopts.stderr, "verification of run %d against run %d: pending (the rerun was interrupted)\n", id, orig)
		return urfave.Exit(fmt.Sprintf("interrupted: rerun %d of run %d stopped before it could be verified; `runner resume %d` finishes it and the verification", id, orig, id), exitRunFail)
	}
	if phase != nil {
		phase("verify")
		defer phase("")
	}
	verdict, err := verify(store, orig, id)
	if err != nil {
		return err
	}
	if err := store.AddEnv(id, map[string]string{verdictKey: verdict}); err != nil {
		return err
	}
	fmt.Fprintln(gopts.stdout, verdict)
	if verdict != "identical" {
		return urfave.Exit(fmt.Sprintf("rerun %d of run %d is not identical", id, orig), exitRunFail)
	}
	return nil
}

// verify compares two runs' histories and model summaries bit for bit.
func verify(store *results.Store, a, b int64) (string, error) {
	ra, err := store.Run(a)
	if err != nil {
		return "", err
	}
	rb, err := store.Run(b)
	if err != nil {
		return "", err
	}
	if ra.Status != rb.Status {
		return fmt.Sprintf("status differs: recorded %s, rerun %s", ra.Status, rb.Status), nil
	}
	for _, key := range []string{"loss", "mse", "vlb_t"} {
		ha, err := store.History(a, key)
		if err != nil {
			return "", err
		}
		hb, err := store.History(b, key)
		if err != nil {
			return "", err
		}
		for i := range min(len(ha), len(hb)) {
			if ha[i].Step != hb[i].Step || math.Float64bits(ha[i].Value) != math.Float64bits(hb[i].Value) {
				return fmt.Sprintf("differs: %s at step %d: recorded %.17g, rerun %.17g", key, ha[i].Step, ha[i].Value, hb[i].Value), nil
			}
		}
		if len(ha) != len(hb) {
			return fmt.Sprintf("differs: %s has %d logged steps recorded, %d in the rerun", key, len(ha), len(hb)), nil
		}
	}
	keys := slices.Sorted(maps.Keys(ra.Summaries))
	for _, k := range keys {
		if !plugins.Reproducible(k) {
			continue // the machine's speed
		}
		va, vb := ra.Summaries[k], rb.Summaries[k]
		if math.Float64bits(va) != math.Float64bits(vb) && !(math.IsNaN(va) && math.IsNaN(vb)) {
			return fmt.Sprintf("differs: summary %s: recorded %.17g, rerun %.17g", k, va, vb), nil
		}
	}
	return "identical", nil
}

func resumeCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "resume",
		Usage:     "continue an interrupted (or crashed) run from its last checkpoint",
		ArgsUsage: "ID",
		Description: "Resumes a run recorded as interrupted, one still marked running whose process is gone (on this\n" +
			"host: its lock is free; from another host: no heartbeat for a minute), or one that failed after writing a\n" +
			"checkpoint. Only one process can take a run over. The run keeps its ID; steps after the checkpoint are\n" +
			"recomputed, and the finished loss history equals that of an uninterrupted run bit for bit. A checkpoint\n" +
			"that cannot be read, or whose timestep sampler state cannot, is set aside (.broken) and the one before\n" +
			"is used. A sample run samples again from its parent's weights. The rerun of an interrupted\n" +
			"`rerun --verify` is then verified, and its verdict stored.",
		Flags: []urfave.Flag{dbFlag(), &urfave.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"}, fastMatmulFlag(), maxMemoryFlag()},
		Action: func(c *urfave.Context) error {
			return runResume(c.Context, resumeOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
		},
	})
}

// resumeOptions are runner resume's flags.
type resumeOptions struct {
	db        string
	quiet     bool
	matmul    matmulOptions
	maxMemory string
}

func resumeOptionsFrom(c *urfave.Context) resumeOptions {
	return resumeOptions{db: c.String("db"), quiet: c.Bool("quiet"), matmul: matmulOptionsFrom(c), maxMemory: c.String("max-memory")}
}

// runResume continues the run that args names from its last checkpoint (or gives the
// verdict of a finished rerun --verify that has none yet).
func runResume(ctx context.Context, opts resumeOptions, gopts globalOptions, args []string) error {
	store, r, err := recordedRun("resume", args, opts.db, gopts.stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	tracer := tracePhases(gopts.stderr)
	if r.Status == results.StatusFinished && r.Env[verdictKey] == verdictPending {
		// The rerun ended but its process stopped before it gave the verdict.
		return settleVerification(gopts, store, r.ID, r.Status, tracer)
	}
	kernel := opts.matmul.followRecorded(gopts.stderr, r)
	job, err := jobOf(r, opts.maxMemory)
	if err != nil {
		return err
	}
	ctx, stop := signalContext(ctx)
	defer stop()
	out := engine.Resume(ctx, job, engine.Options{Store: store, Progress: gopts.progress(opts.quiet), Phase: tracer, Kernel: kernel}, r.ID)
	var refused *engine.RefusedError
	if errors.As(out.Err, &refused) {
		if orig, ok := pendingVerificationOf(r); ok && errors.Is(refused, engine.ErrNoCheckpoint) {
			// Started again, this run would be a plain rerun of a rerun, verified
			// against nothing: what can be done is the verification, from its start.
			return usagef("run %d is the rerun that `rerun --verify` made of run %d, and it stopped before its first checkpoint: "+
				"it cannot be resumed, and its verification has not begun; verify run %d again with `runner rerun --verify %d`", r.ID, orig, orig, orig)
		}
		return usagef("%v", refused)
	}
	fmt.Fprintf(gopts.stderr, "run %d: %s%s\n", out.RunID, out.Status, errSuffix(out.Err))
	if r.Env[verdictKey] == verdictPending {
		printSummaries(gopts.stdout, out.Summaries)
		return settleVerification(gopts, store, r.ID, out.Status, tracer)
	}
	if out.Status == results.StatusInterrupted {
		return urfave.Exit(fmt.Sprintf("interrupted: run %d checkpointed; continue it with `runner resume %d`", out.RunID, out.RunID), exitRunFail)
	}
	if out.Status != results.StatusFinished {
		return urfave.Exit(fmt.Sprintf("run %d %s", out.RunID, out.Status), exitRunFail)
	}
	printSummaries(gopts.stdout, out.Summaries)
	return nil
}
