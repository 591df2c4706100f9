package cli

import (
	"strings"
	"testing"
)

// TestReportRunsViewHonoursFormat: report --view runs writes the format asked for; markdown,
// csv and html printed the terminal table.
func TestReportRunsViewHonoursFormat(t *testing.T) {
	_, db := probeStore(t, map[string]float64{"probe_weights": 1}, map[string]float64{"probe_weights": 2})
	for format, want := range map[string]string{
		"table":    "id  spec   seed  status",
		"markdown": "| id | spec | seed | status |",
		"csv":      "id,spec,seed,status,",
		"html":     "<!DOCTYPE html>",
		"json":     "[\n  {",
	} {
		code, out, errOut := runCLI(t, "report", "--db", db, "--view", "runs", "--format", format)
		if code != 0 || !strings.HasPrefix(out, want) || strings.Count(out, "probe") < 2 && format != "json" {
			t.Errorf("--format %s: exit %d, want output starting %q:\n%s%s", format, code, want, out, errOut)
		}
	}
}
