package cli

import (
	"io"

	urfave "github.com/urfave/cli/v2"
)

// globalOptions is what every command's run function gets besides its own options: where
// it writes. Each command's Action fills its options from its flags (an xOptionsFrom
// function) and hands them to its runX function, so that nothing below an Action reads a
// flag (TestNoCLIContextBelowActions).
type globalOptions struct {
	stdout, stderr io.Writer
}

func globalOptionsFrom(c *urfave.Context) globalOptions {
	return globalOptions{stdout: c.App.Writer, stderr: c.App.ErrWriter}
}

// progress is where a command's progress goes: standard output, or nowhere when quiet.
func (g globalOptions) progress(quiet bool) io.Writer {
	if quiet {
		return io.Discard
	}
	return g.stdout
}
