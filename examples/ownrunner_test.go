// Package examples holds the worked examples of extending ddpm-runner; this test builds the
// one that lives in a module of its own.
package examples

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"

	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"
)

// TestOwnRunnerBuildsAndRunsItsPlugin builds examples/ownrunner from its own module, in a
// temporary copy whose replace line points at this checkout, as a third party would build
// theirs, then lists its schedules and runs a spec that uses its sqrt schedule.
func TestOwnRunnerBuildsAndRunsItsPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// The stock plugin set does not know the schedule: it comes from the other module only.
	if _, err := spec.Load("ownrunner/sqrt.toml", nil); err == nil || !strings.Contains(err.Error(), `unknown schedule "sqrt"`) {
		t.Fatalf("the built-in plugins accept the outside schedule: %v", err)
	}

	work := t.TempDir()
	src := filepath.Join(work, "ownrunner")
	if err := os.CopyFS(src, os.DirFS("ownrunner")); err != nil {
		t.Fatal(err)
	}
	gomod := filepath.Join(src, "go.mod")
	b, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	replaced := strings.Replace(string(b), "=> ../..", "=> "+root, 1)
	if replaced == string(b) {
		t.Fatal("examples/ownrunner/go.mod has no replace => ../..")
	}
	if err := os.WriteFile(gomod, []byte(replaced), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(work, "ownrunner-bin")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = src
	// Its go.sum must be complete as shipped: no module may be added while building.
	build.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", src, err, out)
	}

	out, err := exec.Command(bin, "plugins", "schedule").CombinedOutput()
	if err != nil {
		t.Fatalf("ownrunner plugins schedule: %v\n%s", err, out)
	}
	for _, want := range []string{"\n  sqrt ", "\n  linear ", "max_beta"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ownrunner plugins schedule lacks %q:\n%s", want, out)
		}
	}

	db := filepath.Join(work, "runs.db")
	run := exec.Command(bin, "run", "-q", filepath.Join(src, "sqrt.toml"), "--db", db)
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("ownrunner run: %v\n%s", err, out)
	}
	st, err := results.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(results.Filter{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v, %v; want one", runs, err)
	}
	r := runs[0]
	if r.Status != results.StatusFinished || r.Params["schedule.name"] != "sqrt" {
		t.Errorf("run: status %s, schedule %q; want finished with sqrt", r.Status, r.Params["schedule.name"])
	}
	if _, ok := r.Summaries["mmd"]; !ok {
		t.Errorf("run has no mmd: %v", r.Summaries)
	}
}
