package cli

import (
	"fmt"
	"io"
	"strings"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/internal/gokernels"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// fastMatmulFlag selects the go backend's DotGeneral kernel. Unset, the choice is
// $DDPM_FAST_MATMUL's (on unless it is 0, false or off).
func fastMatmulFlag() urfave.Flag {
	return &urfave.BoolFlag{Name: "fast-matmul", Value: true,
		Usage: "use the AVX2/FMA matmul kernel on the go backend (false: GoMLX's stock kernel; also $" + gokernels.EnvVar + "=0)"}
}

// applyFastMatmul honours an explicit --fast-matmul.
func applyFastMatmul(c *urfave.Context) {
	if c.IsSet("fast-matmul") {
		gokernels.SetEnabled(c.Bool("fast-matmul"))
	}
}

// followRecordedMatmul makes a rerun or resume use the kernel its original run used, since
// the two kernels round differently, unless --fast-matmul says otherwise.
func followRecordedMatmul(c *urfave.Context, w io.Writer, r *results.Run) {
	if c.IsSet("fast-matmul") {
		applyFastMatmul(c)
		return
	}
	recorded, ok := r.Env[engine.MatmulEnvKey]
	if !ok {
		return
	}
	stock := strings.HasPrefix(recorded, "gomlx-stock")
	if stock && gokernels.Wanted() {
		fmt.Fprintf(w, "run %d used GoMLX's stock matmul kernel; using it again (--fast-matmul to override)\n", r.ID)
		gokernels.SetEnabled(false)
	} else if !stock && !gokernels.Wanted() {
		fmt.Fprintf(w, "run %d used the fast matmul kernel; using it again (--fast-matmul=false to override)\n", r.ID)
		gokernels.SetEnabled(true)
	}
}
