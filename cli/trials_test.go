package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSelectTrials(t *testing.T) {
	cases := []struct {
		sel     string
		n       int
		want    []int
		wantErr string
	}{
		{"1", 3, []int{0}, ""},
		{"3", 3, []int{2}, ""},
		{"2-4", 5, []int{1, 2, 3}, ""},
		{"5,1,3-4", 5, []int{0, 2, 3, 4}, ""},
		{"2,2,1-2", 3, []int{0, 1}, ""},
		{" 1 , 3 ", 3, []int{0, 2}, ""},
		{"0", 3, nil, "outside 1-3"},
		{"4", 3, nil, "outside 1-3"},
		{"2-9", 3, nil, "outside 1-3"},
		{"3-2", 3, nil, "runs backwards"},
		{"x", 3, nil, "not an index"},
		{"1,", 3, nil, "not an index"},
		{"1-", 3, nil, "not an index"},
	}
	for _, c := range cases {
		got, err := selectTrials(c.sel, c.n)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("selectTrials(%q, %d): err %v, want one saying %q", c.sel, c.n, err, c.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("selectTrials(%q, %d) = %v, %v; want %v", c.sel, c.n, got, err, c.want)
		}
	}
}

// TestRunTrialRunsOnlyTheSelection: --trial picks trials by the index --dry-run prints; the
// run's output names that index, and only those trials are recorded.
func TestRunTrialRunsOnlyTheSelection(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	spec := writeFile(t, dir, "quick.toml", quickSpec)
	db := filepath.Join(dir, "runs.db")
	code, out, _ := runCLI(t, "run", spec, "--dry-run", "--set", "seeds=[5, 6, 7]", "--trial", "1,3")
	if code != 0 || !strings.Contains(out, "# trial 1/3") || !strings.Contains(out, "# trial 3/3") || strings.Contains(out, "# trial 2/3") {
		t.Fatalf("dry run of --trial 1,3: exit %d\n%s", code, out)
	}
	code, _, errOut := runCLI(t, "run", "-q", spec, "--db", db, "--set", "seeds=[5, 6, 7]", "--trial", "2")
	if code != 0 || !strings.Contains(errOut, "trial 2/3: quick seed 6") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, out, errOut = runCLI(t, "report", "--db", db, "--format", "json")
	if code != 0 {
		t.Fatalf("report exit %d: %s", code, errOut)
	}
	var runs []struct {
		Seed int `json:"seed"`
	}
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Seed != 6 {
		t.Errorf("runs %+v, want the one of seed 6", runs)
	}
	if code, _, errOut := runCLI(t, "run", spec, "--db", db, "--trial", "4"); code == 0 || !strings.Contains(errOut, "outside 1-1") {
		t.Errorf("--trial 4 of 1: exit %d, %s", code, errOut)
	}
}
