package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/backend"
)

func versionCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:  "version",
		Usage: "print the runner, Go and GoMLX versions and the backends available here",
		Flags: []urfave.Flag{fastMatmulFlag()},
		Action: func(c *urfave.Context) error {
			kernel, err := matmulOptionsFrom(c).kernelFor("")
			if err != nil {
				return err
			}
			w := c.App.Writer
			fmt.Fprintf(w, "runner   %s\n", Version)
			fmt.Fprintf(w, "go       %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(w, "gomlx    %s\n", moduleVersion("github.com/gomlx/gomlx"))
			for _, line := range backend.Status() {
				fmt.Fprintf(w, "backend  %s\n", line)
			}
			fmt.Fprintf(w, "matmul   %s\n", backend.KernelName(kernel))
			return nil
		},
	})
}

func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			return d.Version
		}
	}
	return "unknown"
}
