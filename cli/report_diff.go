package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// writeDiff prints runner report diff A B on w: every metric's paired difference between
// the groups whose hashes start with A and B (args), warnings on warn.
func writeDiff(w, warn io.Writer, store *results.Store, opts reportOptions, args []string, conds map[string]string, keep []string) error {
	runs, err := store.Runs(opts.filter())
	if err != nil {
		return err
	}
	groups := report.GroupRuns(report.FilterParams(runs, conds))
	report.KeepMetrics(groups, keep)
	ga, gb, err := report.FindGroups(groups, args[0], args[1])
	if err != nil {
		return usagef("report diff: %v", err)
	}
	pair := [2]*report.Group{ga, gb}
	rows := report.Diff(&report.Artifacts{Store: store, Warn: warn}, pair[0], pair[1])
	if opts.format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	fmt.Fprintf(w, "A: %s (%s)\nB: %s (%s)\n\n", report.TerminalText(pair[0].Label), pair[0].GroupHash, report.TerminalText(pair[1].Label), pair[1].GroupHash)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tverdict")
	for _, v := range report.Verdicts(rows) {
		fmt.Fprintf(tw, "%s\t%s\n", report.TerminalText(v[0]), report.TerminalText(v[1]))
	}
	return tw.Flush()
}
