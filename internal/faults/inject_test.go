package faults

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
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
	// hold pauses other phases as pause does, in the command and in the children it
	// starts: it keeps the children of --jobs in a phase while the fault is aimed at the
	// parent, however fast their work is.
	hold map[string]time.Duration
}

func (a aim) String() string {
	s := fmt.Sprintf("%s to the %s at %s#%d+%v", sigName(a.sig), target(a.group), a.phase, a.nth, a.delay)
	if a.pause > 0 {
		s += fmt.Sprintf(" (paused %v)", a.pause)
	}
	for _, name := range slices.Sorted(maps.Keys(a.hold)) {
		s += fmt.Sprintf(" (%s held %v)", name, a.hold[name])
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
	var pauses []string
	if a.pause > 0 {
		pauses = append(pauses, fmt.Sprintf("%s=%d", a.phase, a.pause.Milliseconds()))
	}
	for name, d := range a.hold {
		pauses = append(pauses, fmt.Sprintf("%s=%d", name, d.Milliseconds()))
	}
	if len(pauses) > 0 {
		sort.Strings(pauses)
		cmd.Env = append(cmd.Env, "DDPM_TRACE_PAUSE="+strings.Join(pauses, ","))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	var waitErr error
	done := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(done) }()
	ended := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	tr := &traceReader{path: filepath.Join(traceDir, strconv.Itoa(pid)+".trace")}
	fail := func(format string, v ...any) {
		t.Helper()
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
		t.Fatalf("%v: %s; trace:\n%s\noutput:\n%s", args, fmt.Sprintf(format, v...), tr.text(), out.String())
	}

	var sh shot
	fired := false
	deadline := time.Now().Add(reachLimit)
	for !fired && !ended() {
		if k := tr.starts(a.phase); k >= a.nth {
			sh.k = k
			time.Sleep(a.delay)
			if a.group {
				_ = syscall.Kill(-pid, a.sig)
			} else {
				_ = syscall.Kill(pid, a.sig)
			}
			// What holds now held when the signal was sent.
			sh.after = tr.lines()
			sh.alive = !ended() && alive(pid)
			fired = true
			break
		}
		if time.Now().After(deadline) {
			fail("phase %s#%d not reached in %v", a.phase, a.nth, reachLimit)
		}
		time.Sleep(pollEvery)
	}
	select {
	case <-done:
	case <-time.After(endLimit):
		fail("still running %v after %v", endLimit, a)
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
	l.hit, l.why = judge(a, sh, ws)
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

// shot is what the suite knew of the process around the moment it sent a signal.
type shot struct {
	k     int      // the phase's start it had seen in the trace (k >= nth), before sending
	after []string // the trace, read after sending
	alive bool     // the process had not ended, seen after sending
}

// judge says whether the fault of a provably landed in its phase: the trace read after the
// signal was sent still ends with the start of the same occurrence of the phase (every
// other line comes after a phase's end), and the process had not ended then, or died of the
// signal itself. Both were true when the signal was sent, which came after that start. A
// SIGKILL that landed must also have killed the process. A signal sent after the process
// or the phase had ended is a miss, and so is one sent so close to the phase's end that the
// end was written before the trace could be read again.
func judge(a aim, s shot, ws syscall.WaitStatus) (bool, string) {
	last, starts := "", 0
	for _, l := range s.after {
		if l == "phase: "+a.phase {
			starts++
		}
		last = l
	}
	if last != "phase: "+a.phase || starts != s.k {
		return false, fmt.Sprintf("sent after %s#%d began, read back at %q (%s#%d)", a.phase, s.k, last, a.phase, starts)
	}
	bySignal := ws.Signaled() && ws.Signal() == a.sig
	if !s.alive && !bySignal {
		return false, "the process had ended (" + exitText(ws) + ")"
	}
	if a.sig == syscall.SIGKILL && !bySignal {
		return false, exitText(ws) + ": the process was not killed"
	}
	return true, ""
}

// traceReader follows a process's trace file as it grows.
type traceReader struct {
	path  string
	buf   []byte   // what was read
	all   []string // its complete lines
	n     int      // the bytes of buf in all
	count map[string]int
}

// starts reads what was added and returns how many times phase has started so far.
func (r *traceReader) starts(phase string) int {
	r.read()
	return r.count["phase: "+phase]
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
	if r.count == nil {
		r.count = map[string]int{}
	}
	for {
		i := bytes.IndexByte(r.buf[r.n:], '\n')
		if i < 0 {
			break
		}
		line := string(r.buf[r.n : r.n+i])
		r.all = append(r.all, line)
		r.count[line]++
		r.n += i + 1
	}
}

// lines reads what was added and returns the complete lines so far.
func (r *traceReader) lines() []string {
	r.read()
	return append([]string(nil), r.all...)
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
