package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportSubcommandsMatchTheOldFlags: runner report diff A B and runner report compare
// ID ID print what report --diff A B and report --compare ID --compare ID print, with the
// report's flags before or after the subcommand's name; only the old form adds a note on
// standard error naming the new one.
func TestReportSubcommandsMatchTheOldFlags(t *testing.T) {
	db := twoGroups(t)
	h := groupHashes(t, db)
	a, b := h[0][:8], h[1][:8]
	const diffNote = "note: runner report --diff A B is now runner report diff A B"
	const compareNote = "note: runner report --compare ID --compare ID is now runner report compare ID ID"
	for _, tc := range []struct {
		name     string
		old, new [][]string
		note     string
	}{
		{"diff", [][]string{{"report", "--db", db, "--diff", a, b}},
			[][]string{{"report", "diff", a, b, "--db", db}, {"report", "--db", db, "diff", a, b}}, diffNote},
		{"diff json, one metric", [][]string{{"report", "--db", db, "--diff", a, b, "--format", "json", "--metrics", "final_loss"}},
			[][]string{{"report", "diff", "--db", db, "--format", "json", "--metrics", "final_loss", a, b},
				{"report", "--db", db, "--format", "json", "diff", "--metrics", "final_loss", a, b}}, diffNote},
		{"compare", [][]string{{"report", "--db", db, "--compare", "1", "--compare", "3"}},
			[][]string{{"report", "compare", "1", "3", "--db", db}, {"report", "--db", db, "compare", "1", "3"}}, compareNote},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, want, errOut := runCLI(t, tc.old[0]...)
			if code != 0 || want == "" || !strings.Contains(errOut, tc.note) || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("%v: exit %d, stderr %q, out %q; want exit 0 and one line of note", tc.old[0], code, errOut, want)
			}
			for _, args := range tc.new {
				code, out, errOut := runCLI(t, args...)
				if code != 0 || out != want {
					t.Errorf("%v: exit %d %s\n%s\nwant the old form's\n%s", args, code, errOut, out, want)
				}
				if strings.Contains(errOut, "note:") {
					t.Errorf("%v: a note on the new form: %q", args, errOut)
				}
			}
		})
	}
	// --out works the same through the subcommand.
	out := filepath.Join(t.TempDir(), "diff.txt")
	_, want, _ := runCLI(t, "report", "diff", "--db", db, a, b)
	if code, _, errOut := runCLI(t, "report", "diff", a, b, "--db", db, "--out", out); code != 0 {
		t.Fatalf("diff --out: exit %d %s", code, errOut)
	}
	if got, err := os.ReadFile(out); err != nil || string(got) != want {
		t.Errorf("diff --out wrote %q (%v), want %q", got, err, want)
	}
	for _, args := range [][]string{{"diff", a}, {"diff", "zzzz", b}, {"diff", a, a}, {"compare", "1"}, {"compare", "1", "x"},
		{"compare", "1", "99"}, {"compare", "1", "3", "--format", "json"}, {"diff", a, b, "--view", "runs"}} {
		code, _, errOut := runCLI(t, append(append([]string{"report"}, args...), "--db", db)...)
		if code != 2 || strings.Contains(errOut, "note:") {
			t.Errorf("report %v: exit %d %q, want 2 and no note", args, code, errOut)
		}
	}
}
