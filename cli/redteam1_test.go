package cli

import (
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
