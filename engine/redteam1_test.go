package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ddpm-runner/ddpm-runner/engine"
)

// TestRedteam1ResumeWithAFIFOForTheSamplerState: the timestep sampler state beside a
// checkpoint is a file in the run's folder that anyone who can write the folder can replace.
// A FIFO there (or a symlink to one, or to /dev/zero) must be refused like any other broken
// state, the way sample refuses its parent's checkpoint files: a regular file, bounded in
// size. It was read with os.ReadFile, so the resume blocked for good in open(2) (SIGTERM
// could not stop it; the run stayed "running"), and /dev/zero ran it out of memory.
func TestRedteam1ResumeWithAFIFOForTheSamplerState(t *testing.T) {
	sets := append(append([]string{}, resumeSets...), "train.checkpoint_every=7")
	h := newHarness(t)
	h.interruptedRun(sets)
	state := filepath.Join(h.dir, "runs", "1", "checkpoint", "timesteps-step-00000020.json")
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(state, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan engine.Outcome, 1)
	go func() {
		done <- engine.Resume(context.Background(), h.jobs(tiny, sets...)[0], engine.Options{Store: h.store}, 1)
	}()
	select {
	case res := <-done:
		t.Logf("resume: %s %v", res.Status, res.Err)
	case <-time.After(20 * time.Second):
		// Unblock the reader so the test process can end.
		if f, err := os.OpenFile(state, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatal("resume was still blocked on the FIFO after 20 s; want it refused as not a regular file (and the checkpoint set aside)")
	}
}
