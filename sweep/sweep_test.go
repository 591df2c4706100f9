package sweep

import (
	"os/exec"
	"strings"
	"testing"
)

func TestArraySpec(t *testing.T) {
	cases := []struct {
		indices []int
		max     int
		want    string
	}{
		{[]int{1, 2, 3, 4}, 0, "1-4"},
		{[]int{1, 2, 3, 4}, 2, "1-4%2"},
		{[]int{3}, 1, "3%1"},
		{[]int{1, 3, 4, 5, 9}, 0, "1,3-5,9"},
		{[]int{2, 4, 6}, 0, "2,4,6"},
	}
	for _, c := range cases {
		if got := ArraySpec(c.indices, c.max); got != c.want {
			t.Errorf("ArraySpec(%v, %d) = %q, want %q", c.indices, c.max, got, c.want)
		}
	}
}

// TestShellCommandRoundTrips: what ShellCommand writes, a shell reads back as the same
// words, with $NAME expanded and every other character literal.
func TestShellCommandRoundTrips(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	args := []string{"/path with space/runner", "it's", `"quoted"`, "a$", "x-$K.db", "$K", "`date`", "semi;colon", "*", ""}
	want := []string{"/path with space/runner", "it's", `"quoted"`, "a$", "x-7.db", "7", "`date`", "semi;colon", "*", ""}
	script := `K=7; for a in ` + ShellCommand(args) + `; do printf '%s\n' "[$a]"; done`
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("sh read %d words, want %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		if got[i] != "["+want[i]+"]" {
			t.Errorf("word %d: sh read %s, want [%s]", i, got[i], want[i])
		}
	}
}
