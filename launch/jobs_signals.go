package launch

import (
	"context"
	"os"
	"strconv"
	"time"
)

// forward passes each signal that arrives on sigs to the group (see stop) until the
// function it returns is called.
func (g *childGroup) forward(sigs <-chan os.Signal, phase func(string)) (done func()) {
	watching := make(chan struct{})
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
	return func() { close(watching) }
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

// TieToParent, in a --jobs child, returns a context that is cancelled, as a signal cancels
// it, when the parent that started the child is gone: Pdeathsig may not fire (another OS,
// or the parent died between fork and exec) and the child must not train on as an orphan.
func TieToParent(ctx context.Context) (context.Context, context.CancelFunc) {
	parent, err := strconv.Atoi(os.Getenv(JobsParentEnv))
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
