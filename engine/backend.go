package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego" // the pure-Go backend, "go"
	"github.com/gomlx/gomlx/backends/xla"

	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	"github.com/ddpm-runner/ddpm-runner/internal/gokernels"
	"github.com/ddpm-runner/ddpm-runner/internal/pjrtplugin"
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

// xlaPreference is the order in which plain "xla" picks a platform.
var xlaPreference = []string{"cuda", "cpu"}

// CheckBackend reports whether a backend configuration can be used here, without creating
// it: an unknown name, or XLA without a usable PJRT plugin, is an error that says what to do.
func CheckBackend(config string) error {
	_, _, err := resolveXLA(config)
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
		return "", nil, fmt.Errorf("unknown backend %q (valid: go, xla, xla:cpu, xla:cuda, xla:/path/to/plugin.so)", config)
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

// MatmulEnvKey is the run environment key that records the go backend's DotGeneral kernel
// (gokernels.Kernel()).
const MatmulEnvKey = "matmul"

// NewBackend creates the backend for a configuration that CheckBackend accepted.
func NewBackend(config string) (backends.Backend, error) {
	resolved, plugin, err := resolveXLA(config)
	if err != nil {
		return nil, err
	}
	var b backends.Backend
	if name, opts, _ := strings.Cut(config, ":"); name == "go" {
		b, err = gobackend.New(opts)
	} else {
		prepareCUDA(plugin)
		b, err = backends.NewWithConfig(resolved)
	}
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", config, err)
	}
	return b, nil
}

// prepareCUDA sets up the environment a CUDA plugin from JAX's wheels expects before it is
// loaded: XLA is told where the CUDA toolkit wheel (nvidia/cuda_nvcc, with ptxas and
// libdevice) lies, as JAX tells it, and go-xla's own CUDA folder check, which looks for
// another layout, is turned off.
func prepareCUDA(p *pjrtplugin.Plugin) {
	if p == nil || p.Source != pjrtplugin.SourcePython || !strings.Contains(p.Platform, "cuda") {
		return
	}
	sitePackages := filepath.Dir(filepath.Dir(filepath.Dir(p.Path))) // <sp>/jax_plugins/xla_cudaNN/x.so
	nvcc := filepath.Join(sitePackages, "nvidia", "cuda_nvcc")
	flags := os.Getenv("XLA_FLAGS")
	if fi, err := os.Stat(nvcc); err == nil && fi.IsDir() && !strings.Contains(flags, "--xla_gpu_cuda_data_dir") {
		os.Setenv("XLA_FLAGS", strings.TrimSpace(flags+" --xla_gpu_cuda_data_dir="+nvcc))
	}
	if _, ok := os.LookupEnv("GOPJRT_CUDA_CHECKS"); !ok {
		os.Setenv("GOPJRT_CUDA_CHECKS", "0")
	}
}

// MatmulKernel names the go backend's DotGeneral kernel, creating a backend first so that
// the fast kernel's self-check has run.
func MatmulKernel() string {
	if b, err := NewBackend("go"); err == nil {
		b.Finalize()
	}
	return gokernels.Kernel()
}

// BackendStatus describes each backend and whether it can run here, for `runner version`:
// the go backend, then each PJRT plugin found for the XLA backend with its path and version
// or why it is unusable, and what xla:cuda and xla:cpu would load.
func BackendStatus() []string {
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
