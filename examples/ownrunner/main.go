// Command ownrunner is a runner of your own: ddpm-runner's command line with the built-in
// plugins and one from this module (the sqrt schedule). Build it from this folder with
// `go build`; the replace line in go.mod points at the ddpm-runner checkout it was copied
// from (drop it to use a published version).
package main

import (
	"os"

	"github.com/ddpm-runner/ddpm-runner/cli"
	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"

	_ "example.com/ownrunner/sqrtschedule"
)

func main() { os.Exit(cli.Main(os.Args)) }
