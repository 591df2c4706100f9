// Package gobackend creates GoMLX's pure-Go backend ("go", package simplego) the way
// ddpm-runner needs it.
//
// GoMLX v0.26.0's simplego runs independent graph nodes on a bounded worker pool, and some
// ops (DotGeneral) wait on the same pool for their own sub-tasks. When every worker holds an
// op that waits for a worker, execution deadlocks: seen here with a U-Net's gradient on 2
// cores (about 1 run in 30 of its gradient test). With unlimited parallelism
// ("parallelism=-1") tasks never wait for a worker; the training-step benchmarks run as fast
// as with the default (20 vs 19.7 steps/s on the reference MLP), while "ops_sequential", the
// other way out, costs about 15%.
package gobackend

import (
	"os"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"

	"github.com/ddpm-runner/ddpm-runner/internal/gokernels"
)

// DefaultConfig is added to every "go" backend configuration that does not set
// parallelism or ops_sequential itself.
const DefaultConfig = "parallelism=-1"

var stdoutMu sync.Mutex

// New creates the pure-Go backend from a configuration (the part after "go:", possibly
// empty), with DefaultConfig applied unless the configuration says otherwise.
func New(config string) (backends.Backend, error) {
	if !strings.Contains(config, "parallelism") && !strings.Contains(config, "ops_sequential") {
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
