package cli

import (
	"fmt"
	"io"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// fastMatmulFlag selects the go backend's kernel. Unset, the choice is --backend's (go:stock)
// or $DDPM_FAST_MATMUL's (fast unless it is 0, false or off).
func fastMatmulFlag() urfave.Flag {
	return &urfave.BoolFlag{Name: "fast-matmul", Value: true,
		Usage: "use the fast AVX2/FMA kernels on the go backend (false: GoMLX's stock kernels, as --backend go:stock; also $" + backend.KernelEnvVar + "=0)"}
}

// matmulOptions is --fast-matmul: whether it was given, and its value (true when not given).
// It resolves to the go backend's kernel (kernelFor, followRecorded), which a command passes
// to the engine (engine.Options.Kernel) as a value; backend.New puts it in place for the
// process's go backends when it creates one.
type matmulOptions struct {
	set, fast bool
}

func matmulOptionsFrom(c *urfave.Context) matmulOptions {
	return matmulOptions{set: c.IsSet("fast-matmul"), fast: c.Bool("fast-matmul")}
}

// flagKernel is the kernel --fast-matmul asks for, and whether it was given.
func (m matmulOptions) flagKernel() (backend.Kernel, bool) {
	switch {
	case !m.set:
		return backend.DefaultKernel, false
	case m.fast:
		return backend.FastKernel, true
	}
	return backend.StockKernel, true
}

// kernelFor is the go backend's kernel for a run on the backend named name (a --backend
// value; empty for $GOMLX_BACKEND's): the one the name gives (go:stock), else --fast-matmul's,
// else the environment's (backend.DefaultKernel). A name and a flag that disagree are an error.
func (m matmulOptions) kernelFor(name string) (backend.Kernel, error) {
	choice, err := backend.Resolve(name, "")
	if err != nil {
		return backend.DefaultKernel, usagef("--backend: %v", err)
	}
	flag, given := m.flagKernel()
	switch {
	case !given:
		return choice.Kernel, nil
	case choice.Kernel != backend.DefaultKernel && choice.Kernel != flag:
		return backend.DefaultKernel, usagef("--backend %s and --fast-matmul=%v ask for different kernels", choice.Name(), m.fast)
	}
	return flag, nil
}

// followRecorded is the kernel a rerun, resume or sample of run r computes with: the one r
// recorded, since the two kernels round differently, unless --fast-matmul says otherwise;
// the environment's for a run that recorded none.
func (m matmulOptions) followRecorded(w io.Writer, r *results.Run) backend.Kernel {
	if k, given := m.flagKernel(); given {
		return k
	}
	recorded, ok := backend.RecordedKernel(r.Env)
	if !ok {
		return backend.DefaultKernel
	}
	if def := backend.DefaultKernel.Resolved(); recorded == backend.StockKernel && def != backend.StockKernel {
		fmt.Fprintf(w, "run %d used GoMLX's stock matmul kernel; using it again (--fast-matmul to override)\n", r.ID)
	} else if recorded == backend.FastKernel && def != backend.FastKernel {
		fmt.Fprintf(w, "run %d used the fast matmul kernel; using it again (--fast-matmul=false to override)\n", r.ID)
	}
	return recorded
}
