package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// jobsParentEnv names, in a --jobs child's environment, the pid of the runner that started
// it. The child stops as on SIGTERM (checkpoint, record interrupted) when its parent is no
// longer that process, and leaves its parent's scratch folder alone.
const jobsParentEnv = "DDPM_JOBS_PARENT"

// jobTask is one trial that --jobs runs in a child process.
type jobTask struct {
	k     int          // the trial's index among all resolved trials
	label string       // how the output names the trial
	job   *engine.Job  // the trial
	prior *results.Run // the main database's run of it that the child continues; nil: a fresh run in shard
	shard string       // the child's database when prior is nil

	started bool // the child process was started
	code    int  // its exit status (-1: it could not be started or was killed by a signal)
}

// runInParallel runs the selected trials (jobs, with index their 0-based indices among all
// total resolved trials) in up to n child processes of this runner at once, each with its
// share of the cores (GOMAXPROCS).
//
// What runs is decided against the main database as the sequential path decides it (see
// resumeTarget): with --resume or --add-seeds a finished or diverged trial is skipped, and
// an interrupted run is continued from its checkpoint by a child that resumes it in the main
// database itself. A trial to run afresh runs in its own shard database in a scratch folder
// inside the database's artifact folder; the shards are merged in trial order when all
// children have ended, whatever their runs' status (an interrupted run keeps its checkpoint,
// so --resume continues it), and the scratch folder is removed.
//
// SIGINT and SIGTERM are forwarded to the children, which checkpoint and record their runs
// as interrupted, as a single run does; no new child starts; the parent waits for them,
// merges and exits 1. The children die with the parent (SIGTERM on its death, and they
// watch their parent), and while any of them lives the scratch folder stays locked; once all
// are gone, the next command that runs trials on this database merges it (recoverScratch).
func runInParallel(c *urfave.Context, n int, jobs []*engine.Job, index []int, total int) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--jobs: finding this runner binary: %w", err)
	}
	errW := &lineWriter{w: c.App.ErrWriter}
	phase := phaseMarker(errW)
	store, err := openForRuns(c.String("db"), errW, false)
	if err != nil {
		return err
	}
	defer store.Close()
	// Signals are caught from here on, so that none arriving before the children start
	// leaves the scratch folder behind; they are acted on when the children would start.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	defer phase("") // while the signals are still caught
	resume := c.Bool("resume")
	var busy map[string]string
	if resume {
		busy = scratchTrials(store)
	}
	var tasks []*jobTask
	for i, job := range jobs {
		t := &jobTask{k: index[i], label: trialLabel(index[i], total), job: job}
		if resume {
			var note bytes.Buffer
			prior, skip, err := resumeTarget(&note, store, busy, job)
			if err != nil {
				fmt.Fprintf(errW, "trial %s: %s seed %d%s\n", t.label, report.TerminalText(job.Trial.Spec), job.Trial.Seed, report.TerminalText(sweepLabel(job.Trial)))
				return err
			}
			if skip {
				fmt.Fprintf(errW, "trial %s: %s seed %d%s\n%s", t.label, report.TerminalText(job.Trial.Spec), job.Trial.Seed, report.TerminalText(sweepLabel(job.Trial)), note.Bytes())
				continue
			}
			t.prior = prior
		}
		tasks = append(tasks, t)
	}
	if len(tasks) == 0 {
		return nil
	}
	hashes := make([]string, len(tasks))
	for i, t := range tasks {
		hashes[i] = t.job.Trial.Hash()
	}
	sc, err := newScratch(store.ArtifactRoot(), hashes)
	if err != nil {
		return fmt.Errorf("--jobs: %w", err)
	}
	defer sc.release()

	g := &childGroup{running: map[*exec.Cmd]bool{}}
	watching := make(chan struct{})
	defer close(watching)
	go func() {
		for {
			select {
			case sig := <-sigs:
				g.stop(sig)
				phase("jobs.wait")
			case <-watching:
				return
			}
		}
	}()
	procs := max(1, runtime.NumCPU()/n)
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	phase("jobs.start")
	for _, t := range tasks {
		args := []string{"run", "-q", "--trial", strconv.Itoa(t.k + 1)}
		if t.prior != nil {
			args = append(args, "--resume", "--db", c.String("db"))
		} else {
			t.shard = filepath.Join(sc.dir, "trial-"+strconv.Itoa(t.k+1)+".db")
			args = append(args, "--db", t.shard)
		}
		if b := c.String("backend"); b != "" {
			args = append(args, "--backend", b)
		}
		for _, s := range c.StringSlice("set") {
			args = append(args, "--set", s)
		}
		if !c.Bool("fast-matmul") {
			args = append(args, "--fast-matmul=false")
		}
		args = append(args, c.Args().Slice()...)
		wg.Add(1)
		go func(t *jobTask) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command(self, args...)
			cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs), jobsParentEnv+"="+strconv.Itoa(os.Getpid()))
			cmd.SysProcAttr = childProcAttr()
			// The child holds the scratch folder's lock too, so that the folder counts as in
			// use until the last process of the group has ended.
			cmd.ExtraFiles = []*os.File{sc.lock}
			g.run(t, cmd, errW, phase)
		}(t)
	}
	wg.Wait()

	failed, notStarted := 0, 0
	var interrupted []string
	keep := false
	for _, t := range tasks {
		label := t.label
		if !t.started {
			notStarted++
			failed++
			continue
		}
		var status string
		if t.prior != nil {
			// The child continued the run in the main database itself.
			r, err := store.Run(t.prior.ID)
			if err != nil {
				fmt.Fprintf(errW, "trial %s: run %d: %v\n", label, t.prior.ID, err)
				failed++
				continue
			}
			status = r.Status
			fmt.Fprintf(errW, "trial %s: run %d: %s%s\n", label, r.ID, r.Status, runErrSuffix(r))
			if status == results.StatusInterrupted {
				interrupted = append(interrupted, strconv.FormatInt(r.ID, 10))
			}
		} else {
			phase("jobs.merge")
			res, err := mergeShard(store, t.shard, fmt.Sprintf("runner run --jobs %d (trial %d)", n, t.k+1))
			if err != nil {
				fmt.Fprintf(errW, "error: %v\n", err)
				keep = true
				failed++
				continue
			}
			if len(res.Skipped) > 0 {
				keep = true
			}
			for sid, id := range res.IDs {
				r, err := store.Run(id)
				if err != nil {
					continue
				}
				status = r.Status
				fmt.Fprintf(errW, "trial %s: run %d (shard run %d): %s%s\n", label, id, sid, r.Status, runErrSuffix(r))
				if status == results.StatusInterrupted {
					interrupted = append(interrupted, strconv.FormatInt(id, 10))
				}
			}
			if len(res.IDs) == 0 {
				fmt.Fprintf(errW, "trial %s: no run was recorded (%s)\n", label, exitText(t.code))
			}
		}
		if status != results.StatusFinished {
			failed++
		}
	}
	if keep {
		fmt.Fprintf(errW, "note: the scratch folder %s is kept; the next `runner run` on this database merges what it holds\n", report.TerminalText(sc.dir))
	} else {
		phase("jobs.cleanup")
		if err := sc.remove(); err != nil {
			fmt.Fprintf(errW, "warning: removing the scratch folder: %v\n", err)
		}
	}
	if sig := g.signal(); sig != nil {
		msg := fmt.Sprintf("stopped by a signal (%v)", sig)
		if len(interrupted) > 0 {
			msg = fmt.Sprintf("interrupted: run(s) %s checkpointed; continue them with the same command and --resume", strings.Join(interrupted, ", "))
		}
		if notStarted > 0 {
			msg += fmt.Sprintf("; %d trial(s) not started", notStarted)
		}
		return urfave.Exit(msg, exitRunFail)
	}
	if failed > 0 {
		return urfave.Exit(fmt.Sprintf("%d of %d trials did not finish", failed, len(jobs)), exitRunFail)
	}
	return nil
}

// mergeShard merges a --jobs shard into store. Its runs left running by a child that died
// without recording its end are first recorded as what they are (interrupted with a
// checkpoint, else failed), so that nothing stays running for ever. A shard that was never
// created holds nothing to merge.
func mergeShard(store *results.Store, shard, origin string) (results.MergeResult, error) {
	if _, err := os.Lstat(shard); os.IsNotExist(err) {
		return results.MergeResult{Shard: shard}, nil
	}
	sh, err := results.Open(shard)
	if err != nil {
		return results.MergeResult{}, err
	}
	_, err = engine.Reconcile(sh)
	if cerr := sh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return results.MergeResult{}, fmt.Errorf("%s: %w", shard, err)
	}
	return store.Merge(shard, results.MergeOptions{Origin: origin})
}

// childGroup is the children of one runner run --jobs: once a signal has stopped the group,
// no child starts, and the signal goes to every child running.
type childGroup struct {
	mu      sync.Mutex
	stopped os.Signal
	running map[*exec.Cmd]bool
}

// shardLine matches the lines of a shard child's output that name runs by their ids in the
// shard, which are not the ids the runs get in the main database: the parent prints those.
var shardLine = regexp.MustCompile(`^(run \d+: |runner: (interrupted: run \d+ |stopped by signal after run \d+ ))`)

// run starts t's child (unless the group was stopped), passes its phase lines on as they
// come, and keeps its other output lines to print when it has ended.
func (g *childGroup) run(t *jobTask, cmd *exec.Cmd, w io.Writer, phase func(string)) {
	// Pdeathsig fires when the thread that started the child ends, not only the process:
	// the thread stays this goroutine's until the child has been waited for.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t.code = -1
	stderr, err := cmd.StderrPipe()
	if err != nil {
		fmt.Fprintf(w, "trial %s: %v\n", t.label, err)
		return
	}
	g.mu.Lock()
	if g.stopped != nil {
		g.mu.Unlock()
		return
	}
	err = cmd.Start()
	if err == nil {
		g.running[cmd] = true
		t.started = true
	}
	g.mu.Unlock()
	if err != nil {
		fmt.Fprintf(w, "trial %s: %v\n", t.label, err)
		return
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "phase: "); ok {
			phase("jobs.child." + name)
			continue
		}
		if t.prior == nil && shardLine.MatchString(line) {
			continue
		}
		out.WriteString(line + "\n")
	}
	err = cmd.Wait()
	g.mu.Lock()
	delete(g.running, cmd)
	g.mu.Unlock()
	w.Write(out.Bytes())
	switch ee, ok := err.(*exec.ExitError); {
	case err == nil:
		t.code = 0
	case ok:
		t.code = ee.ExitCode()
	default:
		fmt.Fprintf(w, "trial %s: %v\n", t.label, err)
	}
}

// stop stops the group with sig: it is sent to every child running, and no child starts.
func (g *childGroup) stop(sig os.Signal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped == nil {
		g.stopped = sig
	}
	for cmd := range g.running {
		// A child that has just ended cannot be signalled, and needs not be.
		_ = cmd.Process.Signal(sig)
	}
}

// signal is the signal that stopped the group; nil if none did.
func (g *childGroup) signal() os.Signal {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopped
}

// tieToParent, in a --jobs child, returns a context that is cancelled, as a signal cancels
// it, when the parent that started the child is gone: Pdeathsig may not fire (another OS,
// or the parent died between fork and exec) and the child must not train on as an orphan.
func tieToParent(ctx context.Context) (context.Context, context.CancelFunc) {
	parent, err := strconv.Atoi(os.Getenv(jobsParentEnv))
	if err != nil || parent <= 0 {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if os.Getppid() != parent {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return ctx, cancel
}

// lineWriter serialises writes: the children's goroutines print whole lines through it.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// phaseMarker is tracePhases that may always be called.
func phaseMarker(w io.Writer) func(string) {
	if f := tracePhases(w); f != nil {
		return f
	}
	return func(string) {}
}

func runErrSuffix(r *results.Run) string {
	if r.Error == "" {
		return ""
	}
	return ": " + report.TerminalText(r.Error)
}

func exitText(code int) string {
	if code < 0 {
		return "its process was killed or could not start"
	}
	return fmt.Sprintf("its process exited with status %d", code)
}
