package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSetErrorsNameTheFlag(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "q.toml", quickSpec)
	for _, tc := range []struct {
		set     string
		want    []string
		wantNot string
	}{
		{"train=5", []string{"--set train=5", `"train" is a table`, "train.steps"}, `did you mean "train"`},
		{"trian.steps=5", []string{"--set trian.steps=5", `unknown table "trian"`, `did you mean "train"`}, "q.toml:1"},
		{"seed=[1]", []string{"--set seed=[1]", `did you mean "seeds"`}, "q.toml:1"},
	} {
		code, _, errOut := runCLI(t, "run", spec, "--db", filepath.Join(dir, "r.db"), "--set", tc.set)
		if code != 2 {
			t.Errorf("--set %s: exit %d, want 2", tc.set, code)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("--set %s: %q does not say %q", tc.set, errOut, w)
			}
		}
		if strings.Contains(errOut, tc.wantNot) {
			t.Errorf("--set %s: %q says %q", tc.set, errOut, tc.wantNot)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "r.db")); err == nil {
		t.Error("a database was created for a bad --set")
	}
}

// TestSizesThatCannotFitExit2: a trial that cannot fit in memory, or a spec of too many
// trials, is refused before anything is written, with the estimate.
func TestSizesThatCannotFitExit2(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "q.toml", quickSpec)
	db := filepath.Join(dir, "r.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "train.batch=9223372036854775807"}, "train.batch"},
		{[]string{"--set", "train.batch=16777216", "--set", "network.hidden=[4096]"}, "needs about"},
		{[]string{"--set", "sample.n=67108864", "--set", "network.hidden=[4096]"}, "needs about"},
		{[]string{"--set", "network.hidden=[65536, 65536]"}, "needs about"},
		{[]string{"--max-memory", "1MiB"}, "more than the 1 MiB of --max-memory"},
		{[]string{"--max-memory", "lots"}, "--max-memory"},
		{[]string{"--set", "seeds=[" + strings.Repeat("1,", 10000) + "1]"}, "more than the 10000 trials"},
	} {
		code, _, errOut := runCLI(t, append([]string{"run", spec, "--db", db}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 saying %q", tc.args, code, errOut, tc.want)
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("a database was created for a run that cannot fit")
	}
	// The same spec fits with the default sizes.
	if code, _, errOut := runCLI(t, "run", "-q", spec, "--db", db, "--max-memory", "4GiB"); code != 0 {
		t.Errorf("quick spec under 4GiB: exit %d %s", code, errOut)
	}
}

// TestReportHTMLFromAnotherFolder: artifact paths are kept relative to the database, so the
// pictures are found from any working directory.
func TestReportHTMLFromAnotherFolder(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "q.toml", quickSpec)
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "run", "-q", "q.toml", "--db", "res/runs.db"); code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	other := filepath.Join(dir, "other")
	os.MkdirAll(other, 0o755)
	if err := os.Chdir(other); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "report", "--db", "../res/runs.db", "--format", "html")
	if code != 0 || !strings.Contains(out, "data:image/png;base64,") {
		t.Errorf("html report from another folder: exit %d, picture embedded: %v %s", code, strings.Contains(out, "data:image/png;base64,"), errOut)
	}
}

// TestHelperReadOnlyCLI runs the CLI in a child process whose view of a folder is read-only
// (see runReadOnly).
func TestHelperReadOnlyCLI(t *testing.T) {
	args := os.Getenv("RUNNER_HELPER_ARGS")
	if args == "" {
		t.Skip("helper process only")
	}
	var list []string
	if err := json.Unmarshal([]byte(args), &list); err != nil {
		t.Fatal(err)
	}
	code := run(append([]string{"runner"}, list...), os.Stdout, os.Stderr)
	os.Exit(code)
}

// runReadOnly runs the CLI with dir read-only: by its permissions for a normal user, or,
// for root (whom permissions do not stop), through a read-only bind mount in a private
// mount namespace. It skips when neither can be had.
func runReadOnly(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	enc, _ := json.Marshal(args)
	var cmd *exec.Cmd
	self, _ := os.Executable()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		cmd = exec.Command(self, "-test.run=^TestHelperReadOnlyCLI$")
	} else {
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Skip("root without unshare: cannot make a folder read-only")
		}
		probe := exec.Command("unshare", "-m", "sh", "-c", `mount --bind -o ro "$0" "$0"`, dir)
		if out, err := probe.CombinedOutput(); err != nil {
			t.Skipf("root without mount namespaces: cannot make a folder read-only: %v %s", err, out)
		}
		cmd = exec.Command("unshare", "-m", "sh", "-c", `mount --bind -o ro "$0" "$0" && exec "$1" -test.run='^TestHelperReadOnlyCLI$'`, dir, self)
	}
	cmd.Env = append(os.Environ(), "RUNNER_HELPER_ARGS="+string(enc))
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// TestReadOnlyPlaces: a report reads a database in a read-only folder; a run refuses a
// read-only database at open with exit 2, saying why, and records nothing.
func TestReadOnlyPlaces(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	os.MkdirAll(ro, 0o755)
	spec := writeFile(t, dir, "q.toml", quickSpec)
	db := filepath.Join(ro, "runs.db")
	if code, _, errOut := runCLI(t, "run", "-q", spec, "--db", db); code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	code, out := runReadOnly(t, ro, "report", "--db", db, "--format", "json")
	if code != 0 || !strings.Contains(out, `"status": "finished"`) {
		t.Errorf("report in a read-only folder: exit %d %s", code, out)
	}
	code, out = runReadOnly(t, ro, "run", "-q", spec, "--db", db)
	if code != 2 || !strings.Contains(out, "cannot be written") || strings.Contains(out, "run 0") {
		t.Errorf("run on a read-only database: exit %d %s", code, out)
	}
}

// TestTwoDatabasesInOneFolder: a.db and b.db keep their own artifact folders; a database
// whose folder name is taken by another database is refused with exit 2 before any run.
func TestTwoDatabasesInOneFolder(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "q.toml", quickSpec)
	for _, name := range []string{"a.db", "b.db"} {
		if code, _, errOut := runCLI(t, "run", "-q", spec, "--db", filepath.Join(dir, name)); code != 0 {
			t.Fatalf("%s: %d %s", name, code, errOut)
		}
	}
	for _, p := range []string{"a/1/checkpoint", "b/1/checkpoint"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Error(err)
		}
	}
	code, _, errOut := runCLI(t, "run", "-q", spec, "--db", filepath.Join(dir, "a.sqlite"))
	if code != 2 || !strings.Contains(errOut, "belongs to another database") {
		t.Errorf("a.sqlite beside a.db: exit %d %s", code, errOut)
	}
	// Resuming a.db's run never reads b.db's checkpoint: its own run 1 is finished.
	if code, _, errOut := runCLI(t, "resume", "1", "--db", filepath.Join(dir, "a.db")); code != 2 || !strings.Contains(errOut, "finished") {
		t.Errorf("resume in a.db: exit %d %s", code, errOut)
	}
}
