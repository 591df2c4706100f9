package faults

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// aim is one fault: sig, delay after the nth start of phase in the traced process (the
// command's own), to that process or to its whole process group.
type aim struct {
	phase string
	nth   int
	sig   syscall.Signal
	group bool
	delay time.Duration
	// pause makes the runner sleep this long right after announcing the phase's start
	// ($DDPM_TRACE_PAUSE), for phases too short to be hit otherwise.
	pause time.Duration
}

func (a aim) String() string {
	s := fmt.Sprintf("%s to the %s at %s#%d+%v", sigName(a.sig), target(a.group), a.phase, a.nth, a.delay)
	if a.pause > 0 {
		s += fmt.Sprintf(" (paused %v)", a.pause)
	}
	return s
}

func target(group bool) string {
	if group {
		return "group"
	}
	return "process"
}

func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	}
	return s.String()
}

// landing is what a fault did, judged from the complete trace once every process of the
// command's group had ended.
type landing struct {
	hit    bool   // the signal provably landed in the aimed phase
	why    string // for a miss, what the trace shows instead
	exit   string // how the command's process ended: "exit N" or "killed by SIG"
	trace  []string
	output string // the command's stdout and stderr
}

// Limits on waiting: a tiny spec's command ends within seconds, so these only turn a hang
// into a failure with the trace.
const (
	reachLimit = 3 * time.Minute
	endLimit   = 2 * time.Minute
	pollEvery  = 300 * time.Microsecond
)

// fire runs the runner with args in dir, traced into dir/trace, sends the fault of a once the
// phase's nth start is in the trace, and waits until the command and every process of its
// group (the children of --jobs) have ended. A command that ends before the phase begins is
// a failure of the scenario, not a miss.
func fire(t *testing.T, dir string, args []string, a aim) landing {
	t.Helper()
	traceDir := filepath.Join(dir, "trace")
	if err := os.MkdirAll(traceDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(runnerBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DDPM_TRACE_PHASES="+traceDir)
	if a.pause > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("DDPM_TRACE_PAUSE=%s=%d", a.phase, a.pause.Milliseconds()))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tr := &traceReader{path: filepath.Join(traceDir, strconv.Itoa(pid)+".trace")}

	var waitErr error
	exited, fired := false, false
	sentIn := 0 // the occurrence of the phase that the signal was sent in, at the earliest
	deadline := time.Now().Add(reachLimit)
	for !exited && !fired {
		select {
		case waitErr = <-done:
			exited = true
			continue
		default:
		}
		if k := tr.starts(a.phase); k >= a.nth {
			sentIn = k
			time.Sleep(a.delay)
			if a.group {
				_ = syscall.Kill(-pid, a.sig)
			} else {
				_ = syscall.Kill(pid, a.sig)
			}
			fired = true
			break
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-done
			t.Fatalf("%v: phase %s#%d not reached in %v; trace:\n%s\noutput:\n%s", args, a.phase, a.nth, reachLimit, tr.text(), out.String())
		}
		time.Sleep(pollEvery)
	}
	if !exited {
		select {
		case waitErr = <-done:
		case <-time.After(endLimit):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-done
			t.Fatalf("%v: still running %v after %v; trace:\n%s\noutput:\n%s", args, endLimit, a, tr.text(), out.String())
		}
	}
	if err := waitGroup(pid, traceDir, endLimit); err != nil {
		t.Fatalf("%v after %v: %v; trace:\n%s\noutput:\n%s", args, a, err, tr.text(), out.String())
	}
	lines := tr.lines()
	if !fired {
		t.Fatalf("%v: ended (%v) before phase %s#%d began; trace:\n%s\noutput:\n%s", args, waitErr, a.phase, a.nth, strings.Join(lines, "\n"), out.String())
	}
	ws, err := waitStatus(waitErr)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	l := landing{trace: lines, output: out.String(), exit: exitText(ws)}
	l.hit, l.why = judge(lines, a, sentIn, ws)
	return l
}

// waitStatus is how the command ended, from cmd.Wait's error.
func waitStatus(err error) (syscall.WaitStatus, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			return ws, nil
		}
	}
	return 0, err
}

func exitText(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + sigName(ws.Signal())
	}
	return fmt.Sprintf("exit %d", ws.ExitStatus())
}

// judge says whether the fault of a provably landed in its phase, from the complete trace of
// the command's process and how it ended. The signal was sent once the trace showed the
// sentIn-th start of the phase (sentIn >= a.nth):
//   - SIGINT and SIGTERM: the runner's observing handler saw the signal while that same
//     occurrence of the phase was current ("phase signalled (SIG): NAME"). The signal arrived
//     after the occurrence began (it was sent after) and before the handler saw it, within
//     the occurrence, so it arrived inside it;
//   - SIGKILL: the process died by it, and the trace ends inside the aimed phase: its last
//     line is that phase's (nth or later) start, with no end after it.
//
// A signal sent after the process had ended, or after the phase had ended, is a miss.
func judge(lines []string, a aim, sentIn int, ws syscall.WaitStatus) (bool, string) {
	starts := 0
	last := ""
	for _, l := range lines {
		switch {
		case l == "phase: "+a.phase:
			starts++
		case strings.HasPrefix(l, "phase signalled ("):
			sig, cur, ok := strings.Cut(strings.TrimPrefix(l, "phase signalled ("), "): ")
			if !ok || sig != sigName(a.sig) || a.sig == syscall.SIGKILL {
				return false, "unexpected line: " + l
			}
			if cur != a.phase {
				return false, "signalled in phase " + cur
			}
			if starts != sentIn || starts < a.nth {
				return false, fmt.Sprintf("signalled in %s#%d, sent in #%d, aimed at #%d", cur, starts, sentIn, a.nth)
			}
			return true, ""
		}
		if strings.HasPrefix(l, "phase") {
			last = l
		}
	}
	if a.sig != syscall.SIGKILL {
		return false, "no signal seen by the handler (" + exitText(ws) + ", last trace line " + strconv.Quote(last) + ")"
	}
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return false, exitText(ws) + ": the process was not killed (last trace line " + strconv.Quote(last) + ")"
	}
	if last != "phase: "+a.phase {
		return false, "killed after " + strconv.Quote(last)
	}
	if starts < a.nth {
		return false, fmt.Sprintf("killed in %s#%d, aimed at #%d", a.phase, starts, a.nth)
	}
	return true, ""
}

// traceReader follows a process's trace file as it grows.
type traceReader struct {
	path string
	buf  []byte
	n    int // complete lines in buf already counted
	seen map[string]int
}

// starts reads what was added and returns how many times phase has started so far.
func (r *traceReader) starts(phase string) int {
	r.read()
	return r.seen["phase: "+phase]
}

func (r *traceReader) read() {
	f, err := os.Open(r.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(int64(len(r.buf)), io.SeekStart); err != nil {
		return
	}
	more, _ := io.ReadAll(f)
	r.buf = append(r.buf, more...)
	if r.seen == nil {
		r.seen = map[string]int{}
	}
	for {
		i := bytes.IndexByte(r.buf[r.n:], '\n')
		if i < 0 {
			break
		}
		r.seen[string(r.buf[r.n:r.n+i])]++
		r.n += i + 1
	}
}

// lines is the complete trace; call it once the process has ended.
func (r *traceReader) lines() []string {
	r.read()
	s := strings.TrimSuffix(string(r.buf[:r.n]), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func (r *traceReader) text() string {
	r.read()
	return string(r.buf)
}

// waitGroup waits until no live process is left in process group pgid, nor among the
// processes that wrote a trace into traceDir (a child in a group of its own), zombies, which
// cannot run, aside.
func waitGroup(pgid int, traceDir string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		live := groupMembers(pgid)
		traces, _ := filepath.Glob(filepath.Join(traceDir, "*.trace"))
		for _, tf := range traces {
			p, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(tf), ".trace"))
			if err == nil && p != pgid && alive(p) {
				live = append(live, p)
			}
		}
		if len(live) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			for _, p := range live {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			return fmt.Errorf("processes %v of the command still alive %v after it ended", live, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	st, _, ok := procStat(pid)
	return ok && st != "Z" && st != "X"
}

// procStat reads a process's state and process group from /proc.
func procStat(pid int) (state string, pgrp int, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, false
	}
	// pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return "", 0, false
	}
	g, err := strconv.Atoi(f[2])
	return f[0], g, err == nil
}

// groupMembers lists the live processes of group pgid, from /proc.
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, g, ok := procStat(pid); ok && g == pgid && st != "Z" && st != "X" {
			out = append(out, pid)
		}
	}
	return out
}
