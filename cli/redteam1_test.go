package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRedteam1ReportHangupRemovesTemporaryFiles: closing the terminal (or losing the ssh
// connection) sends SIGHUP to a report writing --out; like SIGINT and SIGTERM it must not
// leave its .report-* file beside --out, nor its ddpm-report-* scratch database.
func TestRedteam1ReportHangupRemovesTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a", "runs.db"), filepath.Join(dir, "b", "runs.db")
	recordQuick(t, a, "seeds=[0]")
	recordQuick(t, b, "seeds=[1]")
	self, err := os.Executable()
	must(t, err)
	outDir, tmp := t.TempDir(), t.TempDir()
	args, _ := json.Marshal([]string{"report", "--db", a, "--db", b, "--format", "html", "--out", filepath.Join(outDir, "r.html")})
	cmd := exec.Command(self, "-test.run=^TestHelperReadOnlyCLI$")
	cmd.Env = append(os.Environ(), "RUNNER_HELPER_ARGS="+string(args), holdEnv+"=report-out", "TMPDIR="+tmp)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "holding at report-out") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the report never reached the hold: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(t, cmd.Process.Signal(syscall.SIGHUP))
	cmd.Wait()
	for _, d := range []string{outDir, tmp} {
		if entries, _ := os.ReadDir(d); len(entries) != 0 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("%s holds %v after SIGHUP", d, names)
		}
	}
}

// TestRedteam1ReportOfOneDatabaseWithARecursiveView: a database from another machine whose
// summaries table was replaced by an endless recursive view (a few hundred bytes) is refused
// by report --db A --db B, since merge checks that its tables are tables; the same database
// given alone to report --db must be refused too, not read for ever.
func TestRedteam1ReportOfOneDatabaseWithARecursiveView(t *testing.T) {
	db := filepath.Join(t.TempDir(), "runs.db")
	recordQuick(t, db, "seeds=[0]")
	execDB(t, db, `ALTER TABLE summaries RENAME TO summaries_old`)
	execDB(t, db, `CREATE VIEW summaries AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) `+
		`SELECT 1 AS run_id, 'k' || x AS key, 1.0 AS value FROM c`)
	self, err := os.Executable()
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args, _ := json.Marshal([]string{"report", "--db", db})
	cmd := exec.CommandContext(ctx, self, "-test.run=^TestHelperReadOnlyCLI$")
	cmd.Env = append(os.Environ(), "RUNNER_HELPER_ARGS="+string(args))
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("report --db of a database whose summaries is a recursive view was still running after 20 s; want it refused (exit 2) saying summaries is a view")
	}
	if err == nil || !strings.Contains(string(out), "view") {
		t.Errorf("report: %v %s; want it refused saying summaries is a view", err, out)
	}
}
