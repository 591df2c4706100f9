// Package cli is ddpm-runner's command line as a library: it runs TOML experiment specs that
// train denoising diffusion models, records everything in SQLite, and reports on the runs.
//
// The runner binary is a main that blank-imports the built-in plugins and calls Main; a
// program of your own does the same with your plugin packages imported beside them, as a
// database/sql program imports its driver:
//
//	package main
//
//	import (
//		"os"
//
//		"github.com/ddpm-runner/ddpm-runner/cli"
//		_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"
//		_ "example.com/ddpm-extras/schedules/foo"
//	)
//
//	func main() { os.Exit(cli.Main(os.Args)) }
//
// examples/ownrunner is such a program, in a module of its own.
package cli
