package backend

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"

	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	"github.com/ddpm-runner/ddpm-runner/internal/gokernels"
	"github.com/ddpm-runner/ddpm-runner/internal/pjrtplugin"
)

// MatmulEnvKey is the run environment key that records the go backend's kernel (Kernel).
const MatmulEnvKey = "matmul"

// stockKernelPrefix begins the recorded name of GoMLX's own kernel, whatever the reason it
// ran (turned off, no AVX2/FMA, a failed self-check).
const stockKernelPrefix = "gomlx-stock"

// RecordedKernel reads the kernel a run recorded in its environment, so that its rerun or
// resume computes with the same one (the two round differently); ok is false for a run that
// recorded none (one on another backend).
func RecordedKernel(env map[string]string) (k Kernel, ok bool) {
	recorded, ok := env[MatmulEnvKey]
	if !ok {
		return DefaultKernel, false
	}
	if strings.HasPrefix(recorded, stockKernelPrefix) {
		return StockKernel, true
	}
	return FastKernel, true
}

// Backend is a backend created for a Choice, with what its creation decided.
type Backend struct {
	gomlx  backends.Backend
	choice Choice
	plugin *pjrtplugin.Plugin // the PJRT plugin of an XLA backend
	kernel string             // the go backend's kernel as it is recorded
	fast   bool               // the fast kernels run
}

// noDownload keeps the XLA backend from fetching a PJRT plugin from the internet the first
// time it is asked for: a run must never download anything.
var noDownload sync.Once

// New creates the backend of a choice that Check accepted. It installs the DotGeneral
// gradient (InstallDotGradient) and, for the go backend, puts the choice's kernel in place
// for every go backend of the process.
func New(c Choice) (*Backend, error) {
	InstallDotGradient()
	resolved, plugin, err := resolveXLA(c.Config)
	if err != nil {
		return nil, err
	}
	c.Kernel = c.Kernel.Resolved()
	b := &Backend{choice: c, plugin: plugin}
	if c.IsGo() {
		gokernels.SetEnabled(c.Kernel == FastKernel)
		_, opts, _ := strings.Cut(c.Config, ":")
		b.gomlx, err = gobackend.New(opts)
		b.kernel, b.fast = gokernels.Kernel(), gokernels.Active()
	} else {
		noDownload.Do(func() { xla.EnableAutoInstall(false) })
		prepareCUDA(plugin)
		b.gomlx, err = backends.NewWithConfig(resolved)
	}
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", c.Config, err)
	}
	return b, nil
}

// GoMLX is the GoMLX backend that graphs are built and run on.
func (b *Backend) GoMLX() backends.Backend { return b.gomlx }

// Choice is what the backend was created for, its kernel resolved.
func (b *Backend) Choice() Choice { return b.choice }

// Kernel names the kernel the go backend runs as runs record it (MatmulEnvKey): "fastdot"
// and the micro-kernel, or "gomlx-stock" and why. It is empty on another backend.
func (b *Backend) Kernel() string { return b.kernel }

// Fast says whether the go backend runs the fast kernels (internal/gokernels): asked for and
// passed their self-check on this machine.
func (b *Backend) Fast() bool { return b.fast }

// Im2colConv says whether networks should build their convolutions as im2col (Gather and
// DotGeneral) rather than as native ConvGenerals (internal/conv, differentiable on every
// backend): only on the go backend without its fast kernels, where simplego's own
// convolution loops would run them far slower than the matmul runs the im2col.
func (b *Backend) Im2colConv() bool { return b.choice.IsGo() && !b.fast }

// Select puts the backend's kernel back in place for every go backend of the process, for a
// caller that alternates backends of two kernels; New has done it for the latest one.
func (b *Backend) Select() {
	if b.choice.IsGo() {
		gokernels.SetEnabled(b.choice.Kernel == FastKernel)
	}
}

// Finalize releases the GoMLX backend.
func (b *Backend) Finalize() { b.gomlx.Finalize() }

// KernelName names the kernel a go backend with kernel k runs, creating one so that the fast
// kernel's self-check has run (for `runner version`).
func KernelName(k Kernel) string {
	b, err := New(Choice{Config: "go", Kernel: k})
	if err != nil {
		return gokernels.Kernel()
	}
	defer b.Finalize()
	return b.Kernel()
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
