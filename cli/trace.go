package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The phase trace is for the fault-injection suite (internal/faults) only: it aims its
// signals at a phase with it and proves from it where each signal landed. The trace only
// writes: it handles no signal, so a traced process answers signals as an untraced one.
// $DDPM_TRACE_PHASES turns it on:
//
//	DDPM_TRACE_PHASES=1          the lines go to the command's stderr
//	DDPM_TRACE_PHASES=/abs/dir   each process appends its lines to /abs/dir/PID.trace with
//	                             one write each, so that the traces of a --jobs parent and of
//	                             its children stay apart, can be read as they grow, and are
//	                             complete after a kill, whatever its timing
//
// The lines, in the order things happened in the process:
//
//	phase: NAME       NAME began (the previous phase has ended)
//	phase end: NAME   NAME ended, before the next phase begins or at the end
//
// $DDPM_TRACE_PAUSE=NAME=MS,NAME=MS,... makes the process sleep MS milliseconds right after
// announcing the start of phase NAME, so that a signal can be aimed into a phase shorter
// than the scheduler's granularity. It only delays: no result changes, only timings.
var trace struct {
	mu    sync.Mutex
	dir   string    // the folder of the per-process trace file, if one is open
	file  *os.File  // that file
	out   io.Writer // where the lines go
	cur   string    // the current phase; "" between phases
	pause map[string]time.Duration
}

// tracePhases returns the phase callback of engine.Options (and of the other commands'
// phases) when $DDPM_TRACE_PHASES is set, nil otherwise. The callback announces the start
// of phase NAME, ending the current one; NAME "" ends the current phase with none after
// it. Lines go to w unless the variable names a folder. The environment is read at each
// call, so that tests running commands in one process can turn tracing on and off.
func tracePhases(w io.Writer) func(string) {
	v := os.Getenv("DDPM_TRACE_PHASES")
	if v == "" {
		return nil
	}
	trace.mu.Lock()
	defer trace.mu.Unlock()
	trace.out = w
	if filepath.IsAbs(v) {
		if trace.file == nil || trace.dir != v {
			f, err := os.OpenFile(filepath.Join(v, strconv.Itoa(os.Getpid())+".trace"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				fmt.Fprintf(w, "warning: DDPM_TRACE_PHASES: %v; tracing to stderr\n", err)
			} else {
				trace.dir, trace.file = v, f
			}
		}
		if trace.file != nil {
			trace.out = trace.file
		}
	}
	trace.pause = map[string]time.Duration{}
	for _, kv := range strings.Split(os.Getenv("DDPM_TRACE_PAUSE"), ",") {
		name, ms, ok := strings.Cut(kv, "=")
		if n, err := strconv.Atoi(ms); ok && err == nil && n > 0 {
			trace.pause[name] = time.Duration(n) * time.Millisecond
		}
	}
	return setPhase
}

// setPhase ends the current phase and begins name ("" for none).
func setPhase(name string) {
	trace.mu.Lock()
	if trace.cur != "" {
		fmt.Fprintf(trace.out, "phase end: %s\n", trace.cur)
	}
	trace.cur = name
	if name != "" {
		fmt.Fprintf(trace.out, "phase: %s\n", name)
	}
	d := trace.pause[name]
	trace.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
}
