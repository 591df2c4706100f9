package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// Version is the runner's own version; release builds may set it with -ldflags -X.
var Version = "0.1.0-dev"

// Exit codes.
const (
	exitOK       = 0
	exitRunFail  = 1
	exitBadInput = 2
)

// Main runs the command line args (args[0] is the program's name) with the plugins that the
// program has registered, writing to the process's standard output and error, and returns
// the exit status: 0 when everything succeeded, 1 when a run failed (or diverged, or was
// interrupted), 2 for a usage or spec error.
func Main(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

// run executes the command line and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	err := app.Run(hoistFlags(app, args))
	if err == nil {
		return exitOK
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(stderr, "runner:", msg)
	}
	var ec urfave.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	if spec.IsSpecError(err) {
		return exitBadInput
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitBadInput
	}
	return exitRunFail
}

// usageError marks bad command-line input (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func newApp() *urfave.App {
	return &urfave.App{
		Name:  "runner",
		Usage: "train and compare denoising diffusion models from TOML experiment specs",
		Description: "runner run reads a spec, trains one model per seed and sweep point, and records losses,\n" +
			"metrics, timings and provenance in SQLite; runner report compares the recorded runs.",
		Version:         Version,
		HideHelpCommand: true,
		// --set values such as seeds=[0, 1] contain commas; they are not lists of flags.
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*urfave.Context, error) {}, // main decides the exit status
		OnUsageError: func(c *urfave.Context, err error, isSubcommand bool) error {
			return usagef("%v (see --help)", err)
		},
		Commands: []*urfave.Command{
			runCommand(),
			sampleCommand(),
			importCommand(),
			reportCommand(),
			pluginsCommand(),
			scheduleCommand(),
			versionCommand(),
			crosscheckCommand(),
			featurizerCommand(),
			rerunCommand(),
			resumeCommand(),
			mergeCommand(),
			submitCommand(),
			sweepCommand(),
			benchCommand(),
			fidCommand(),
			serveCommand(),
		},
	}
}

// dbFlag is the --db flag shared by the commands that touch the database.
func dbFlag() urfave.Flag {
	return &urfave.StringFlag{
		Name:    "db",
		Usage:   "SQLite results database",
		EnvVars: []string{"RUNNER_DB"},
		Value:   results.DefaultPath,
	}
}

// withUsageErrors makes a subcommand's flag errors exit with status 2.
func withUsageErrors(c *urfave.Command) *urfave.Command {
	c.OnUsageError = func(_ *urfave.Context, err error, _ bool) error {
		return usagef("%s: %v (see runner %s --help)", c.Name, err, c.Name)
	}
	return c
}
