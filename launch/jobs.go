package launch

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// JobsParentEnv names, in a --jobs child's environment, the pid of the runner that started
// it. The child stops as on SIGTERM (checkpoint, record interrupted) when its parent is no
// longer that process, and leaves its parent's scratch folder alone.
const JobsParentEnv = "DDPM_JOBS_PARENT"

// Trial is one selected trial for RunJobs.
type Trial struct {
	Index int         // its 0-based index among all resolved trials
	Label string      // how the output names it ("3/8")
	Title string      // what follows "trial LABEL: " when it is announced (spec, seed, sweep values; escaped)
	Job   *engine.Job // the trial
}

// JobsOptions say how RunJobs runs the trials of one runner run --jobs.
type JobsOptions struct {
	Self       string   // the runner binary the children run
	DB         string   // the main database's path
	Jobs       int      // how many children run at once (--jobs)
	Resume     bool     // --resume (or implied by --add-seeds)
	ChildFlags []string // the parent's settings every child gets (its flags, then its --set as --set=V)
	Specs      []string // the spec paths, as the parent was given them
	// ResumeTarget decides, with --resume, what a trial needs (see cli's resumeTarget): skip
	// it (said on w), continue prior from its checkpoint, or run it afresh (nil, false).
	ResumeTarget func(w io.Writer, store *results.Store, busy map[string]string, job *engine.Job) (prior *results.Run, skip bool, err error)
	Phase        func(string) // told the phases (jobs.start, jobs.merge, ...); never nil
}

// JobsError is how a runner run --jobs ends that did not run all its trials to their end:
// stopped by a signal, or with trials that did not finish. The command exits with its
// runs-failed status and Msg.
type JobsError struct{ Msg string }

func (e *JobsError) Error() string { return e.Msg }

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

// RunJobs runs the selected trials (of total resolved trials) in up to opts.Jobs child
// processes of this runner at once (opts.Self run ... --trial K), each with its share of the
// cores (GOMAXPROCS), and records their runs in store, the main database, opened for runs
// (RecoverScratch done). errW must take whole lines from several goroutines at once.
//
// What runs is decided against the main database as the sequential path decides it (see
// opts.ResumeTarget): with --resume or --add-seeds a finished or diverged trial is skipped, and
// an interrupted run is continued from its checkpoint by a child that resumes it in the main
// database itself. A trial to run afresh runs in its own shard database in a scratch folder
// inside the database's artifact folder; the shards are merged in trial order when all
// children have ended, whatever their runs' status (an interrupted run keeps its checkpoint,
// so --resume continues it), and the scratch folder is removed.
//
// SIGINT, SIGTERM and SIGHUP (StopSignals) are forwarded to the children, which checkpoint and record their runs
// as interrupted, as a single run does; no new child starts; the parent waits for them,
// merges and returns a *JobsError. The children die with the parent (SIGTERM on its death, and they
// watch their parent), and while any of them lives the scratch folder stays locked; once all
// are gone, the next command that runs trials on this database merges it (RecoverScratch).
func RunJobs(store *results.Store, opts JobsOptions, trials []Trial, errW io.Writer) error {
	phase := opts.Phase
	// Signals are caught from here on, so that none arriving before the children start
	// leaves the scratch folder behind; they are acted on when the children would start.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, StopSignals()...)
	defer func() {
		// A SIGINT or SIGTERM sent as the work ends may still be on its way into the
		// process when the channel is released; ignored from here, it cannot kill a
		// command that has nothing left to stop, which exits with its own status. (SIGHUP
		// is left as it is: whether it is ignored says whether the runner runs under nohup.)
		signal.Ignore(os.Interrupt, syscall.SIGTERM)
		signal.Stop(sigs)
	}()
	defer phase("") // while the signals are still caught
	tasks, err := jobTasks(errW, store, opts, trials)
	if err != nil {
		return err
	}
	if len(tasks) == 0 {
		return nil
	}
	hashes := make([]string, len(tasks))
	for i, t := range tasks {
		hashes[i] = t.job.Trial.Hash()
	}
	sc, err := NewScratch(store.ArtifactRoot(), hashes)
	if err != nil {
		return fmt.Errorf("--jobs: %w", err)
	}
	defer sc.Release()

	g := &childGroup{running: map[*exec.Cmd]bool{}}
	stopForwarding := g.forward(sigs, phase)
	defer stopForwarding()
	g.runAll(opts, tasks, sc, errW, phase)

	o := gatherJobs(store, tasks, opts.Jobs, errW, phase)
	o.settleScratch(sc, errW, phase)
	return o.exitError(g.signal(), len(trials))
}

// jobTasks makes the tasks of the selected trials. With --resume, what runs is decided as
// the sequential path decides it (opts.ResumeTarget): a trial that needs no work is left out
// (said on errW), and one whose interrupted run is to be continued gets that run as prior.
func jobTasks(errW io.Writer, store *results.Store, opts JobsOptions, trials []Trial) ([]*jobTask, error) {
	var busy map[string]string
	if opts.Resume {
		busy = ScratchTrials(store)
	}
	var tasks []*jobTask
	for _, tr := range trials {
		t := &jobTask{k: tr.Index, label: tr.Label, job: tr.Job}
		if opts.Resume {
			var note bytes.Buffer
			prior, skip, err := opts.ResumeTarget(&note, store, busy, tr.Job)
			if err != nil {
				fmt.Fprintf(errW, "trial %s: %s\n", t.label, tr.Title)
				return nil, err
			}
			if skip {
				fmt.Fprintf(errW, "trial %s: %s\n%s", t.label, tr.Title, note.Bytes())
				continue
			}
			t.prior = prior
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// jobsOutcome is what the children of one runner run --jobs came to, as the parent reports
// it once all of them have ended.
type jobsOutcome struct {
	failed, notStarted int
	interrupted        []string // the ids, in the main database, of the runs left interrupted
	keep               bool     // the scratch folder holds what could not be merged
}

// gatherJobs reports each task's runs in trial order: a run continued in the main database
// is read from there, and a shard is merged into it. A task whose child did not start, or
// whose run did not finish, counts as failed.
func gatherJobs(store *results.Store, tasks []*jobTask, n int, errW io.Writer, phase func(string)) *jobsOutcome {
	o := &jobsOutcome{}
	for _, t := range tasks {
		if !t.started {
			o.notStarted++
			o.failed++
			continue
		}
		var status string
		if t.prior != nil {
			status = o.resumed(store, t, errW)
		} else {
			status = o.merged(store, t, n, errW, phase)
		}
		if status != results.StatusFinished {
			o.failed++
		}
	}
	return o
}

// resumed reports the run that t's child continued in the main database itself, and
// returns its status ("" when it cannot be read).
func (o *jobsOutcome) resumed(store *results.Store, t *jobTask, errW io.Writer) string {
	r, err := store.Run(t.prior.ID)
	if err != nil {
		fmt.Fprintf(errW, "trial %s: run %d: %v\n", t.label, t.prior.ID, err)
		return ""
	}
	fmt.Fprintf(errW, "trial %s: run %d: %s%s\n", t.label, r.ID, r.Status, runErrSuffix(r))
	if r.Status == results.StatusInterrupted {
		o.interrupted = append(o.interrupted, strconv.FormatInt(r.ID, 10))
	}
	return r.Status
}

// merged merges t's shard into the main database and reports the runs it brought; it
// returns the status of the last of them reported ("" when there is none).
func (o *jobsOutcome) merged(store *results.Store, t *jobTask, n int, errW io.Writer, phase func(string)) string {
	phase("jobs.merge")
	res, err := MergeShard(store, t.shard, ShardOptions{WritersDead: true, Origin: fmt.Sprintf("runner run --jobs %d (trial %d)", n, t.k+1)})
	if err != nil {
		fmt.Fprintf(errW, "error: %v\n", err)
		o.keep = true
		return ""
	}
	if len(res.Skipped) > 0 {
		o.keep = true
	}
	status := ""
	for sid, id := range res.IDs {
		r, err := store.Run(id)
		if err != nil {
			continue
		}
		status = r.Status
		fmt.Fprintf(errW, "trial %s: run %d (shard run %d): %s%s\n", t.label, id, sid, r.Status, runErrSuffix(r))
		if status == results.StatusInterrupted {
			o.interrupted = append(o.interrupted, strconv.FormatInt(id, 10))
		}
	}
	if len(res.IDs) == 0 {
		fmt.Fprintf(errW, "trial %s: no run was recorded (%s)\n", t.label, exitText(t.code))
	}
	return status
}

// settleScratch removes the scratch folder, unless it holds what could not be merged: then
// it is kept (said on errW) for the next runner run on this database to merge.
func (o *jobsOutcome) settleScratch(sc *Scratch, errW io.Writer, phase func(string)) {
	if o.keep {
		fmt.Fprintf(errW, "note: the scratch folder %s is kept; the next `runner run` on this database merges what it holds\n", report.TerminalText(sc.dir))
	} else {
		phase("jobs.cleanup")
		if err := sc.remove(); err != nil {
			fmt.Fprintf(errW, "warning: removing the scratch folder: %v\n", err)
		}
	}
}

// exitError is how runner run --jobs ends: stopped by sig (naming the runs to continue with
// --resume), with the count of the trials that did not finish, or nil.
func (o *jobsOutcome) exitError(sig os.Signal, trials int) error {
	if sig != nil {
		msg := fmt.Sprintf("stopped by a signal (%v)", sig)
		if len(o.interrupted) > 0 {
			msg = fmt.Sprintf("interrupted: run(s) %s checkpointed; continue them with the same command and --resume", strings.Join(o.interrupted, ", "))
		}
		if o.notStarted > 0 {
			msg += fmt.Sprintf("; %d trial(s) not started", o.notStarted)
		}
		return &JobsError{Msg: msg}
	}
	if o.failed > 0 {
		return &JobsError{Msg: fmt.Sprintf("%d of %d trials did not finish", o.failed, trials)}
	}
	return nil
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
