package cli

import (
	"fmt"
	"io"
	"strings"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/internal/fastdot"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// fastMatmulFlag selects the go backend's DotGeneral kernel. Unset, the choice is
// $DDPM_FAST_MATMUL's (on unless it is 0, false or off).
func fastMatmulFlag() urfave.Flag {
	return &urfave.BoolFlag{Name: "fast-matmul", Value: true,
		Usage: "use the AVX2/FMA matmul kernel on the go backend (false: GoMLX's stock kernel; also $" + fastdot.EnvVar + "=0)"}
}

// matmulOptions is --fast-matmul: whether it was given, and its value (true when not given).
type matmulOptions struct {
	set, fast bool
}

func matmulOptionsFrom(c *urfave.Context) matmulOptions {
	return matmulOptions{set: c.IsSet("fast-matmul"), fast: c.Bool("fast-matmul")}
}

// apply honours an explicit --fast-matmul.
func (m matmulOptions) apply() {
	if m.set {
		fastdot.SetEnabled(m.fast)
	}
}

// followRecorded makes a rerun or resume use the kernel its original run used, since the
// two kernels round differently, unless --fast-matmul says otherwise.
func (m matmulOptions) followRecorded(w io.Writer, r *results.Run) {
	if m.set {
		m.apply()
		return
	}
	recorded, ok := r.Env[engine.MatmulEnvKey]
	if !ok {
		return
	}
	stock := strings.HasPrefix(recorded, "gomlx-stock")
	if stock && fastdot.Wanted() {
		fmt.Fprintf(w, "run %d used GoMLX's stock matmul kernel; using it again (--fast-matmul to override)\n", r.ID)
		fastdot.SetEnabled(false)
	} else if !stock && !fastdot.Wanted() {
		fmt.Fprintf(w, "run %d used the fast matmul kernel; using it again (--fast-matmul=false to override)\n", r.ID)
		fastdot.SetEnabled(true)
	}
}
