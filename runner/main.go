// Command runner is ddpm-runner's command line with every built-in plugin: it runs TOML
// experiment specs that train denoising diffusion models, records everything in SQLite, and
// reports on the runs. The command line itself is package cli; see there for a runner of
// your own with plugins from another module.
//
// Exit status: 0 when everything succeeded, 1 when a run failed (or diverged, or was
// interrupted), 2 for a usage or spec error.
package main

import (
	"os"

	"github.com/ddpm-runner/ddpm-runner/cli"
	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"
)

func main() { os.Exit(cli.Main(os.Args)) }
