package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// tempFiles are the temporary files and folders of a command that must not outlive it (a
// report written through a temporary file beside --out, the scratch database of a report
// over several --db). Until stop is called, a stop signal (stopSignals) removes them and ends the
// process with status 128 + the signal's number, as a shell reports a process a signal
// ended; the command writes nothing else that needs undoing.
type tempFiles struct {
	mu    sync.Mutex
	paths []string
	sigs  chan os.Signal
	done  chan struct{}
}

// watchTempFiles starts watching for the stop signals; errW is told what a signal did.
func watchTempFiles(errW io.Writer) *tempFiles {
	t := &tempFiles{sigs: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(t.sigs, stopSignals()...)
	go func() {
		select {
		case sig := <-t.sigs:
			// The lock is never given back: no temporary file is made or renamed from here on.
			t.mu.Lock()
			for i := len(t.paths) - 1; i >= 0; i-- {
				os.RemoveAll(t.paths[i])
			}
			msg := ""
			if len(t.paths) > 0 {
				msg = "; its temporary files are removed"
			}
			fmt.Fprintf(errW, "runner: stopped by %v%s\n", sig, msg)
			code := 1
			if s, ok := sig.(syscall.Signal); ok {
				code = 128 + int(s)
			}
			os.Exit(code)
		case <-t.done:
		}
	}()
	return t
}

// make calls create, which makes a temporary file or folder and returns its path, and keeps
// that path for removal on a signal. The lock is held throughout, so a signal that arrives
// while it is being made still removes it. A nil t only calls create.
func (t *tempFiles) make(create func() (string, error)) (string, error) {
	if t == nil {
		return create()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p, err := create()
	if err == nil {
		t.paths = append(t.paths, p)
	}
	return p, err
}

// forget stops tracking a path that is gone or has become a result (renamed into place).
func (t *tempFiles) forget(path string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, p := range t.paths {
		if p == path {
			t.paths = append(t.paths[:i], t.paths[i+1:]...)
			return
		}
	}
}

// stop ends the watch; signals act as they did before it.
func (t *tempFiles) stop() {
	if t == nil {
		return
	}
	signal.Stop(t.sigs)
	close(t.done)
}

// holdEnv names the point where a command pauses for the signal tests: set to a point's name
// (see holdForTest), the command stops there for a minute, after saying so on standard error.
const holdEnv = "DDPM_TEST_HOLD"

// holdForTest pauses at the named point when $DDPM_TEST_HOLD names it, so that a test can
// send its signal while the command's temporary files exist.
func holdForTest(point string) {
	if os.Getenv(holdEnv) != point {
		return
	}
	fmt.Fprintf(os.Stderr, "holding at %s\n", point)
	time.Sleep(time.Minute)
}
