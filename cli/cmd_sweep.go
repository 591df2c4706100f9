package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/sweep"
)

func sweepCommand() *urfave.Command {
	return &urfave.Command{
		Name:  "sweep",
		Usage: "look at a sweep folder made by runner submit",
		Subcommands: []*urfave.Command{withUsageErrors(&urfave.Command{
			Name:      "status",
			Usage:     "each trial's state: from its shard (finished, failed, diverged, interrupted, running) and Slurm's queue (pending, running)",
			ArgsUsage: "SWEEP",
			Action: func(c *urfave.Context) error {
				if c.NArg() != 1 {
					return usagef("sweep status needs exactly one sweep folder")
				}
				f, err := sweep.Open(c.Args().First())
				if err != nil {
					return usagef("%v", err)
				}
				rows, qerr := sweepRows(f)
				w := tabwriter.NewWriter(c.App.Writer, 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "trial\tspec\tseed\tstate\tshard run\tslurm")
				counts := map[string]int{}
				for _, row := range rows {
					state := row.State
					if row.Error != "" {
						state = "unreadable: " + row.Error
					}
					counts[state]++
					run := "-"
					if row.Run > 0 {
						run = fmt.Sprint(row.Run)
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", row.Trial, report.TerminalText(row.Spec), row.Seed, report.TerminalText(state), run, orDash(row.Slurm))
				}
				w.Flush()
				var parts []string
				for _, k := range []string{"finished", "diverged", "failed", "interrupted", "running", "pending", "not started"} {
					if counts[k] > 0 {
						parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
					}
				}
				fmt.Fprintf(c.App.Writer, "%s: %d trials: %s\n", report.TerminalText(f.Dir), f.Trials, strings.Join(parts, ", "))
				if qerr != nil {
					fmt.Fprintf(c.App.ErrWriter, "note: %v\n", qerr)
				}
				return nil
			},
		})},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
