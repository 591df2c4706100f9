package engine

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego" // the pure-Go backend, "go"
	"github.com/gomlx/gomlx/backends/xla"

	"github.com/ddpm-runner/ddpm-runner/internal/fastdot"
	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
)

func init() {
	// A run must never download anything: the XLA backend would otherwise fetch a PJRT
	// plugin from the internet the first time it is asked for.
	xla.EnableAutoInstall(false)
}

// ResolveBackend picks the backend configuration of a run: the --backend flag if given,
// else $GOMLX_BACKEND, else the spec's backend, else "go".
func ResolveBackend(flag, fromSpec string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv(backends.ConfigEnvVar); env != "" {
		return env
	}
	if fromSpec != "" {
		return fromSpec
	}
	return "go"
}

// CheckBackend reports whether a backend configuration can be used here, without creating
// it: an unknown name, or XLA without an installed PJRT plugin, is an error that says what
// to do.
func CheckBackend(config string) error {
	name, plugin, _ := strings.Cut(config, ":")
	switch name {
	case "go":
		return nil
	case "xla", "stablehlo":
		avail := xlaPlugins()
		if len(avail) == 0 {
			return fmt.Errorf("backend %q needs a PJRT plugin and none is installed (searched PJRT_PLUGIN_LIBRARY_PATH, "+
				"/usr/local/lib/go-xla and ~/.local/lib/go-xla); ddpm-runner never downloads one: install it by hand "+
				"or use --backend go", config)
		}
		plugin, _, _ = strings.Cut(plugin, ",")
		if plugin != "" && !strings.HasPrefix(plugin, "/") && !slices.Contains(avail, plugin) {
			return fmt.Errorf("backend %q: PJRT plugin %q is not installed (installed: %s)", config, plugin, strings.Join(avail, ", "))
		}
		return nil
	}
	return fmt.Errorf("unknown backend %q (valid: go, xla, xla:cpu, xla:cuda)", config)
}

var (
	xlaOnce  sync.Once
	xlaAvail []string
)

func xlaPlugins() []string {
	xlaOnce.Do(func() { xlaAvail = xla.GetAvailablePlugins() })
	return xlaAvail
}

// MatmulEnvKey is the run environment key that records the go backend's DotGeneral kernel
// (fastdot.Kernel()).
const MatmulEnvKey = "matmul"

// NewBackend creates the backend for a configuration that CheckBackend accepted.
func NewBackend(config string) (backends.Backend, error) {
	if err := CheckBackend(config); err != nil {
		return nil, err
	}
	var b backends.Backend
	var err error
	if name, opts, _ := strings.Cut(config, ":"); name == "go" {
		b, err = gobackend.New(opts)
	} else {
		b, err = backends.NewWithConfig(config)
	}
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", config, err)
	}
	return b, nil
}

// MatmulKernel names the go backend's DotGeneral kernel, creating a backend first so that
// the fast kernel's self-check has run.
func MatmulKernel() string {
	if b, err := NewBackend("go"); err == nil {
		b.Finalize()
	}
	return fastdot.Kernel()
}

// BackendStatus describes each backend and whether it can run here, for `runner version`.
func BackendStatus() []string {
	out := []string{"go (pure Go, available)"}
	if p := xlaPlugins(); len(p) > 0 {
		out = append(out, fmt.Sprintf("xla (PJRT plugins: %s)", strings.Join(p, ", ")))
	} else {
		out = append(out, "xla (unavailable: no PJRT plugin installed)")
	}
	return out
}
