package backend

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"

	"github.com/ddpm-runner/ddpm-runner/internal/gokernels"
	"github.com/ddpm-runner/ddpm-runner/internal/pjrtplugin"
)

// KernelEnvVar is the environment variable behind DefaultKernel.
const KernelEnvVar = gokernels.EnvVar

// Kernel selects the implementation of the go backend's hot ops: the matmul, the
// convolution, row gathers and scatters, element-wise ops and reductions.
type Kernel string

const (
	// DefaultKernel is FastKernel unless $DDPM_FAST_MATMUL turns it off (0, false or off).
	DefaultKernel Kernel = ""
	// FastKernel is internal/gokernels: the AVX2/FMA matmul and convolution and the
	// block-wise memory ops, where the CPU has AVX2 and FMA and the self-check passes.
	FastKernel Kernel = "fast"
	// StockKernel is GoMLX's own implementation of every op.
	StockKernel Kernel = "stock"
)

// Resolved returns k, or for DefaultKernel the kernel the environment asks for.
func (k Kernel) Resolved() Kernel {
	if k != DefaultKernel {
		return k
	}
	if gokernels.FromEnvironment() {
		return FastKernel
	}
	return StockKernel
}

// Choice names a backend: Config is the configuration a trial records ("go",
// "go:<simplego options>", "xla", "xla:cpu", "xla:cuda", "xla:/path/to/plugin.so[,options]"),
// Kernel the go backend's kernel (of the go backend a run on another backend initialises its
// weights on, there).
type Choice struct {
	Config string
	Kernel Kernel
}

// IsGo says whether the choice is the pure-Go backend.
func (c Choice) IsGo() bool {
	name, _, _ := strings.Cut(c.Config, ":")
	return name == "go"
}

// Name is the backend's name with its kernel: go:stock for the go backend on GoMLX's
// kernels, the configuration itself otherwise (go, xla:cuda, ...).
func (c Choice) Name() string {
	if !c.IsGo() || c.Kernel.Resolved() != StockKernel {
		return c.Config
	}
	if _, opts, _ := strings.Cut(c.Config, ":"); opts != "" {
		return "go:" + string(StockKernel) + "," + opts
	}
	return "go:" + string(StockKernel)
}

// Parse splits a backend name into its configuration and kernel: go:stock and go:fast name
// the go backend with that kernel (beside any simplego options: go:stock,ops_sequential);
// any other name is a configuration on the default kernel, as given.
func Parse(name string) (Choice, error) {
	head, rest, _ := strings.Cut(name, ":")
	if head != "go" {
		return Choice{Config: name}, nil
	}
	var kernel Kernel
	var opts []string
	for _, o := range strings.Split(rest, ",") {
		switch k := Kernel(o); k {
		case FastKernel, StockKernel:
			if kernel != DefaultKernel && kernel != k {
				return Choice{}, fmt.Errorf("backend %q names two kernels (valid: go, go:fast, go:stock)", name)
			}
			kernel = k
		default:
			opts = append(opts, o)
		}
	}
	if kernel == DefaultKernel {
		return Choice{Config: name}, nil
	}
	config := "go"
	if o := strings.Join(opts, ","); o != "" {
		config += ":" + o
	}
	return Choice{Config: config, Kernel: kernel}, nil
}

// Resolve picks the backend of a run: the --backend flag if given, else $GOMLX_BACKEND, else
// the spec's backend, else "go"; a kernel named there (go:stock) is split off into the
// choice's Kernel.
func Resolve(flag, fromSpec string) (Choice, error) {
	name := "go"
	switch {
	case flag != "":
		name = flag
	case os.Getenv(backends.ConfigEnvVar) != "":
		name = os.Getenv(backends.ConfigEnvVar)
	case fromSpec != "":
		name = fromSpec
	}
	return Parse(name)
}

// xlaPreference is the order in which plain "xla" picks a platform.
var xlaPreference = []string{"cuda", "cpu"}

// Check reports whether a backend (a configuration, or a name with its kernel) can be used
// here, without creating it: an unknown name, or XLA without a usable PJRT plugin, is an
// error that says what to do.
func Check(name string) error {
	c, err := Parse(name)
	if err != nil {
		return err
	}
	_, _, err = resolveXLA(c.Config)
	return err
}

// resolveXLA turns an "xla[:platform|:/path.so][,options]" configuration into the one GoMLX
// is given, "xla:/path/to/plugin.so[,options]", with the plugin it names. Other backends
// pass through with a nil plugin.
func resolveXLA(config string) (string, *pjrtplugin.Plugin, error) {
	name, rest, _ := strings.Cut(config, ":")
	switch name {
	case "go":
		return config, nil, nil
	case "xla", "stablehlo":
	default:
		return "", nil, fmt.Errorf("unknown backend %q (valid: go, go:stock, xla, xla:cpu, xla:cuda, xla:/path/to/plugin.so)", config)
	}
	want, opts, _ := strings.Cut(rest, ",")
	var p pjrtplugin.Plugin
	var err error
	switch {
	case filepath.IsAbs(want):
		p = pjrtplugin.Plugin{Platform: "custom", Path: want, Source: "given"}
		if p.Version, err = pjrtplugin.ReadVersion(want); err == nil {
			err = pjrtplugin.Compatible(p.Version)
		}
		if err != nil {
			err = fmt.Errorf("PJRT plugin %s %w", want, err)
		}
	case want == "":
		var errs []string
		for _, platform := range xlaPreference {
			if p, err = lookupPlugin(platform); err == nil {
				break
			}
			errs = append(errs, err.Error())
		}
		if err != nil {
			err = fmt.Errorf("%s", strings.Join(errs, "; "))
		}
	default:
		p, err = lookupPlugin(want)
	}
	if err != nil {
		return "", nil, fmt.Errorf("backend %q needs a usable PJRT plugin: %v; ddpm-runner never downloads one: "+
			"install one by hand (pip install jax[cuda13] on a GPU machine brings jax-cuda13-pjrt), point "+
			"PJRT_PLUGIN_LIBRARY_PATH or %s at it, or use --backend go", config, err, pjrtplugin.SitePackagesEnv)
	}
	resolved := "xla:" + p.Path
	if p.Platform == "cpu" {
		// GoMLX shares host buffers with the plugin it calls "cpu"; a path loses that.
		resolved += ",shared_buffers"
	}
	if opts != "" {
		resolved += "," + opts
	}
	return resolved, &p, nil
}

// pluginSearch is what a search of the environment found, and where it looked.
type pluginSearch struct {
	found    []pjrtplugin.Plugin
	searched []string
}

var (
	searchMu    sync.Mutex
	searchCache = map[string]pluginSearch{}
)

// pjrtPlugins is the plugin search of this process's environment, run once per environment
// (it asks python for its folders and loads each library found).
func pjrtPlugins() pluginSearch {
	key := strings.Join([]string{os.Getenv(pjrtplugin.SourceEnv), os.Getenv("LD_LIBRARY_PATH"),
		os.Getenv(pjrtplugin.SitePackagesEnv), os.Getenv(pjrtplugin.AllowOlderEnv), os.Getenv("PATH")}, "\x00")
	searchMu.Lock()
	defer searchMu.Unlock()
	if ps, ok := searchCache[key]; ok {
		return ps
	}
	s := pjrtplugin.FromEnvironment()
	ps := pluginSearch{found: s.Find(), searched: s.Searched()}
	searchCache[key] = ps
	return ps
}

func lookupPlugin(platform string) (pjrtplugin.Plugin, error) {
	ps := pjrtPlugins()
	return pjrtplugin.Choose(ps.found, platform, ps.searched)
}

// Status describes each backend and whether it can run here, for `runner version`:
// the go backend, then each PJRT plugin found for the XLA backend with its path and version
// or why it is unusable, and what xla:cuda and xla:cpu would load.
func Status() []string {
	out := []string{"go: pure Go, available"}
	platforms := slices.Clone(xlaPreference)
	for _, p := range pjrtPlugins().found {
		if !slices.Contains(platforms, p.Platform) {
			platforms = append(platforms, p.Platform)
		}
	}
	for _, platform := range platforms {
		p, err := lookupPlugin(platform)
		if err != nil {
			out = append(out, fmt.Sprintf("xla:%s: unusable: %v", platform, err))
		} else {
			out = append(out, fmt.Sprintf("xla:%s: available: %s", platform, p.Describe()))
		}
	}
	return out
}
