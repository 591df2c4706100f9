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

// flagKernel is the kernel --fast-matmul asks for, and whether it was given.
func flagKernel(c *urfave.Context) (backend.Kernel, bool) {
	if !c.IsSet("fast-matmul") {
		return backend.DefaultKernel, false
	}
	if c.Bool("fast-matmul") {
		return backend.FastKernel, true
	}
	return backend.StockKernel, true
}

// kernelFor is the go backend's kernel for a run on the backend named name (a --backend
// value; empty for $GOMLX_BACKEND's): the one the name gives (go:stock), else --fast-matmul's,
// else the environment's (backend.DefaultKernel). A name and a flag that disagree are an error.
func kernelFor(c *urfave.Context, name string) (backend.Kernel, error) {
	choice, err := backend.Resolve(name, "")
	if err != nil {
		return backend.DefaultKernel, usagef("--backend: %v", err)
	}
	flag, given := flagKernel(c)
	switch {
	case !given:
		return choice.Kernel, nil
	case choice.Kernel != backend.DefaultKernel && choice.Kernel != flag:
		return backend.DefaultKernel, usagef("--backend %s and --fast-matmul=%v ask for different kernels", choice.Name(), c.Bool("fast-matmul"))
	}
	return flag, nil
}

// commandKernel is kernelFor the command's --backend (none for a command without one).
func commandKernel(c *urfave.Context) (backend.Kernel, error) {
	return kernelFor(c, c.String("backend"))
}

// followRecordedMatmul is the kernel a rerun, resume or sample of run r computes with: the
// one r recorded, since the two kernels round differently, unless --fast-matmul says
// otherwise; the environment's for a run that recorded none.
func followRecordedMatmul(c *urfave.Context, w io.Writer, r *results.Run) backend.Kernel {
	if k, given := flagKernel(c); given {
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
