package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ddpm-runner/ddpm-runner/plugins"
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
	var pair [2]*report.Group
	for i, prefix := range args {
		var found []*report.Group
		for _, g := range groups {
			if prefix != "" && strings.HasPrefix(g.GroupHash, prefix) {
				found = append(found, g)
			}
		}
		switch len(found) {
		case 0:
			return usagef("report diff: no group's hash starts with %q (runner report --format json --view groups lists them)", prefix)
		case 1:
			pair[i] = found[0]
		default:
			return usagef("report diff: %d groups' hashes start with %q; give more of it", len(found), prefix)
		}
	}
	if pair[0] == pair[1] {
		return usagef("report diff: %q and %q are both group %s; give two different groups (runner report --format json --view groups lists them)",
			args[0], args[1], pair[0].GroupHash)
	}
	rows := report.Diff(&report.Artifacts{Store: store, Warn: warn}, pair[0], pair[1])
	if opts.format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	fmt.Fprintf(w, "A: %s (%s)\nB: %s (%s)\n\n", report.TerminalText(pair[0].Label), pair[0].GroupHash, report.TerminalText(pair[1].Label), pair[1].GroupHash)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tverdict")
	for _, r := range rows {
		if !plugins.Reproducible(r.Metric) {
			continue // the machine's speed, not the model's
		}
		fmt.Fprintf(tw, "%s\t%s\n", report.TerminalText(r.Metric), report.TerminalText(r.Verdict))
	}
	return tw.Flush()
}
