// Package gobackend creates GoMLX's pure-Go backend ("go", package simplego) the way
// ddpm-runner needs it.
//
// The graph's ops run one after another on the calling goroutine ("ops_sequential"), and each
// op spreads its own work over the cores (internal/gokernels runs its parts on a team of
// spinning goroutines). simplego's other mode starts a goroutine per op so that independent
// ops overlap; with the team, that overlap gained less than the goroutines and the cache
// misses cost (docs/performance.md). Stock ops that split their own work still use simplego's
// worker pool, which is unbounded ("parallelism=-1"): with GoMLX v0.26.0's bounded pool, ops
// that wait on the pool for their own sub-tasks deadlocked when every worker held such an op
// (seen with a U-Net's gradient on 2 cores, about 1 run in 30 of its gradient test).
package gobackend

import (
	"os"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"

	"github.com/ddpm-runner/ddpm-runner/internal/gokernels"
)

// DefaultConfig is added to every "go" backend configuration that does not choose the
// parallelism or the ops' execution itself.
const DefaultConfig = "parallelism=-1,ops_sequential"

var stdoutMu sync.Mutex

// New creates the pure-Go backend from a configuration (the part after "go:", possibly
// empty), with DefaultConfig applied unless the configuration says otherwise.
func New(config string) (backends.Backend, error) {
	if !strings.Contains(config, "parallelism") && !strings.Contains(config, "ops_") {
		if config == "" {
			config = DefaultConfig
		} else {
			config = DefaultConfig + "," + config
		}
	}
	// simplego prints "parallelism set to ..." on stdout; keep the runner's output clean.
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	saved := os.Stdout
	if devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		os.Stdout = devnull
		defer func() { os.Stdout = saved; devnull.Close() }()
	}
	b, err := simplego.New(config)
	if err != nil {
		return nil, err
	}
	gokernels.Ensure(b)
	return b, nil
}
