package launch

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/ddpm-runner/ddpm-runner/results"
)

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

// runAll runs every task's child, at most --jobs at once, each with its share of the cores
// (GOMAXPROCS), and returns when all of them have ended; once the group is stopped, the
// children not yet started never start.
func (g *childGroup) runAll(opts JobsOptions, tasks []*jobTask, sc *Scratch, errW io.Writer, phase func(string)) {
	n := opts.Jobs
	procs := max(1, runtime.NumCPU()/n)
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	phase("jobs.start")
	for _, t := range tasks {
		if t.prior == nil {
			t.shard = filepath.Join(sc.dir, "trial-"+strconv.Itoa(t.k+1)+".db")
		}
		args := opts.childArgs(t)
		wg.Add(1)
		go func(t *jobTask) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command(opts.Self, args...)
			cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs), JobsParentEnv+"="+strconv.Itoa(os.Getpid()))
			cmd.SysProcAttr = childProcAttr()
			// The child holds the scratch folder's lock too, so that the folder counts as in
			// use until the last process of the group has ended.
			cmd.ExtraFiles = []*os.File{sc.lock}
			g.run(t, cmd, errW, phase)
		}(t)
	}
	wg.Wait()
}

// ChildOwnFlags are the flags of runner run that a --jobs child gets from its task, not from
// the parent: which trial, which database and whether to resume it, and quiet output (the
// parent prints); --jobs and --add-seeds are the parent's doing (--add-seeds has become
// --set seeds and --resume), --dry-run never starts children; --set comes in ChildFlags from
// the parent's options, where --add-seeds has added its seeds.
var ChildOwnFlags = map[string]bool{"trial": true, "db": true, "resume": true, "quiet": true,
	"jobs": true, "add-seeds": true, "dry-run": true, "set": true}

// ChildArgs is the command line of the child that runs trial k (0-based) into the shard
// database at shard, or, with shard "", into the main database to continue its prior run
// with --resume.
func (o JobsOptions) ChildArgs(k int, shard string) []string {
	t := &jobTask{k: k, shard: shard}
	if shard == "" {
		t.prior = &results.Run{}
	}
	return o.childArgs(t)
}

// childArgs is the command line of t's child: runner run of that one trial, into its shard,
// or into the main database to continue t's prior run, with every other setting the parent
// was given (ChildFlags: its flags, on the command line or from the environment, and its --set including
// the seeds of --add-seeds), so that the child resolves and checks the trial as the parent did.
func (o JobsOptions) childArgs(t *jobTask) []string {
	args := []string{"run", "-q", "--trial", strconv.Itoa(t.k + 1)}
	if t.prior != nil {
		args = append(args, "--resume", "--db", o.DB)
	} else {
		args = append(args, "--db", t.shard)
	}
	args = append(args, o.ChildFlags...)
	return append(args, o.Specs...)
}

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

// LineWriter serialises writes to W: the children's goroutines print whole lines through
// it (RunJobs's errW).
type LineWriter struct {
	mu sync.Mutex
	W  io.Writer
}

func (l *LineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
}
