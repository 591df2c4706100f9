package report

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// TestRunsViewInEveryFormat: the runs view written as Markdown and CSV has a header
// and one row per run in that format, the database's text escaped for it (a spec name with
// markup, a formula, a line break and an escape code), and CSV numbers in full, a negative
// one as it is. (HTML is runner serve's runs page: serve's TestRunsSnapshot.)
func TestRunsViewInEveryFormat(t *testing.T) {
	runs := []*results.Run{
		{ID: 1, Spec: "=evil\n<b>|x</b>\x1b[2J", Seed: 0, Status: "finished", Started: "2026-01-02T03:04:05Z",
			Params: map[string]string{"schedule.name": "linear"}, Summaries: map[string]float64{"fid": 1.0 / 3}},
		{ID: 2, Spec: "plain", Seed: 1, Status: "finished", Started: "2026-01-02T03:04:06Z",
			Params: map[string]string{"schedule.name": "cosine"}, Summaries: map[string]float64{"nfe": 20, "fid": -1.5}},
	}
	cases := []struct {
		name  string
		write func(*strings.Builder) error
		check func(t *testing.T, out string)
	}{
		{"markdown", func(b *strings.Builder) error { return WriteRunsMarkdown(b, runs) }, func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 4 || !strings.HasPrefix(lines[0], "| id | spec | seed | status | started |") || !strings.HasPrefix(lines[1], "|---|") {
				t.Errorf("want a header, a rule and two rows:\n%s", out)
			}
			if !strings.Contains(out, `&lt;b&gt;\|x&lt;/b&gt;`) || strings.ContainsAny(out, "\x1b") || !strings.Contains(out, "| 0.33333 |") {
				t.Errorf("cells not escaped or numbers not shown:\n%s", out)
			}
		}},
		{"csv", func(b *strings.Builder) error { return WriteRunsCSV(b, runs) }, func(t *testing.T, out string) {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil || len(rows) != 3 || rows[0][0] != "id" || rows[1][1] != `'=evil\n<b>|x</b>\x1b[2J` {
				t.Fatalf("want a header and two rows, the spec defused (%v):\n%s", err, out)
			}
			col := map[string]int{}
			for i, h := range rows[0] {
				col[h] = i
			}
			if rows[1][col["fid"]] != "0.3333333333333333" || rows[2][col["fid"]] != "-1.5" || rows[1][col["nfe"]] != "" || rows[2][col["nfe"]] != "20" {
				t.Errorf("numbers: %v", rows)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			if err := c.write(&b); err != nil {
				t.Fatal(err)
			}
			c.check(t, b.String())
		})
	}
}
