package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tests of what the report reads and refuses: artifacts only from the run's own folder,
// bounded and of the right type; databases through symlinks and read-only; signals; bad
// values in the database.

// recordQuick records quickSpec's runs in a new database at db, with extra --set values.
func recordQuick(t *testing.T, db string, sets ...string) {
	t.Helper()
	spec := writeFile(t, t.TempDir(), "quick.toml", quickSpec)
	args := []string{"run", "-q", spec, "--db", db}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	if code, _, errOut := runCLI(t, args...); code != 0 {
		t.Fatalf("run: exit %d: %s", code, errOut)
	}
}

// execDB runs one statement on the database at db, as a user with sqlite3 would: opened
// as SQLite opens it, not as the runner does, which refuses a database that is not one a
// runner writes.
func execDB(t *testing.T, db, q string, args ...any) {
	t.Helper()
	conn, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// hugePNGHeader is the start of a PNG whose header says 100000 x 100000 pixels.
func hugePNGHeader() []byte {
	var ihdr bytes.Buffer
	ihdr.WriteString("IHDR")
	binary.Write(&ihdr, binary.BigEndian, uint32(100000))
	binary.Write(&ihdr, binary.BigEndian, uint32(100000))
	ihdr.Write([]byte{8, 6, 0, 0, 0})
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(ihdr.Bytes())
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr.Bytes()))
	return b.Bytes()
}

// TestHTMLReportReadsOnlyTheRunsOwnFiles: whatever an artifact row or a file in the run's
// folder points to, the HTML page embeds only a PNG from the run's own folder; anything else
// is left out with a warning naming the run, the artifact and why, and the report succeeds.
func TestHTMLReportReadsOnlyTheRunsOwnFiles(t *testing.T) {
	const secret = "SECRET-TOKEN-7f3a"
	for _, c := range []struct {
		name   string
		tamper func(t *testing.T, dir, db, runDir string)
		why    string // "" for a picture that must be shown
	}{
		{"the run's own picture", func(*testing.T, string, string, string) {}, ""},
		{"absolute path", func(t *testing.T, dir, db, _ string) {
			execDB(t, db, `UPDATE artifacts SET path = ? WHERE name = 'samples.png'`, filepath.Join(dir, "secret.txt"))
		}, "outside"},
		{"relative path", func(t *testing.T, _, db, _ string) {
			execDB(t, db, `UPDATE artifacts SET path = '../secret.txt' WHERE name = 'samples.png'`)
		}, "outside"},
		{"dot-dots through the run folder", func(t *testing.T, _, db, _ string) {
			execDB(t, db, `UPDATE artifacts SET path = 'runs/1/../../../secret.txt' WHERE name = 'samples.png'`)
		}, "outside"},
		{"symlink in the run folder", func(t *testing.T, dir, _, runDir string) {
			os.Remove(filepath.Join(runDir, "samples.png"))
			must(t, os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(runDir, "samples.png")))
		}, "outside"},
		{"another database's picture", func(t *testing.T, dir, db, _ string) {
			other := filepath.Join(dir, "other", "runs.db")
			recordQuick(t, other, "seeds=[5]")
			execDB(t, db, `UPDATE artifacts SET path = ? WHERE name = 'samples.png'`, filepath.Join(dir, "other", "runs", "1", "samples.png"))
		}, "outside"},
		{"/dev/zero", func(t *testing.T, _, db, _ string) {
			execDB(t, db, `UPDATE artifacts SET path = '/dev/zero' WHERE name = 'samples.png'`)
		}, "outside"},
		{"symlink to /dev/zero", func(t *testing.T, _, _, runDir string) {
			os.Remove(filepath.Join(runDir, "samples.png"))
			must(t, os.Symlink("/dev/zero", filepath.Join(runDir, "samples.png")))
		}, "outside"},
		{"FIFO", func(t *testing.T, _, _, runDir string) {
			os.Remove(filepath.Join(runDir, "samples.png"))
			must(t, syscall.Mkfifo(filepath.Join(runDir, "samples.png"), 0o644))
		}, "not a regular file"},
		{"too large", func(t *testing.T, _, _, runDir string) {
			must(t, os.Truncate(filepath.Join(runDir, "samples.png"), 17<<20))
		}, "more than"},
		{"not a PNG", func(t *testing.T, _, _, runDir string) {
			must(t, os.WriteFile(filepath.Join(runDir, "samples.png"), []byte(secret), 0o644))
		}, "not a PNG picture"},
		{"too many pixels", func(t *testing.T, _, _, runDir string) {
			must(t, os.WriteFile(filepath.Join(runDir, "samples.png"), hugePNGHeader(), 0o644))
		}, "pixels allowed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			must(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte(secret), 0o644))
			db := filepath.Join(dir, "db", "runs.db")
			recordQuick(t, db)
			c.tamper(t, dir, db, filepath.Join(dir, "db", "runs", "1"))
			code, page, errOut := runCLI(t, "report", "--db", db, "--format", "html")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if strings.Contains(page, secret) || strings.Contains(page, base64.StdEncoding.EncodeToString([]byte(secret))) {
				t.Error("the page embeds the file outside the run's folder")
			}
			shown := strings.Contains(page, `alt="samples.png"`)
			if c.why == "" {
				if !shown || strings.Contains(errOut, "warning") {
					t.Errorf("the run's own picture: shown %v, stderr %q", shown, errOut)
				}
				return
			}
			if shown {
				t.Error("the page shows a refused picture")
			}
			if !strings.Contains(errOut, "warning: run 1: samples.png not read") || !strings.Contains(errOut, c.why) {
				t.Errorf("stderr %q, want a warning naming run 1, samples.png and %q", errOut, c.why)
			}
		})
	}
}

// TestReportOverSeveralDatabasesReadsEachRunsOwnFolder: with several --db, each run's
// pictures come from its folder in its own database, and only from there.
func TestReportOverSeveralDatabasesReadsEachRunsOwnFolder(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.png")
	a, b := filepath.Join(dir, "a", "runs.db"), filepath.Join(dir, "b", "runs.db")
	recordQuick(t, a, "seeds=[0]")
	recordQuick(t, b, "seeds=[1]")
	code, page, errOut := runCLI(t, "report", "--db", a, "--db", b, "--format", "html")
	if n := strings.Count(page, `alt="samples.png"`); code != 0 || n != 2 || strings.Contains(errOut, "warning") {
		t.Fatalf("two clean databases: exit %d, %d pictures, stderr %q", code, n, errOut)
	}
	// Each run's command to rerun it names its own database and its id there.
	for _, want := range []string{"runner rerun 1 --db " + a, "runner rerun 1 --db " + b} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// A picture of a's run, copied outside either database: b's row points at it.
	png, err := os.ReadFile(filepath.Join(dir, "a", "runs", "1", "samples.png"))
	must(t, err)
	must(t, os.WriteFile(secret, png, 0o644))
	execDB(t, b, `UPDATE artifacts SET path = ? WHERE name = 'samples.png'`, secret)
	code, page, errOut = runCLI(t, "report", "--db", a, "--db", b, "--format", "html")
	if n := strings.Count(page, `alt="samples.png"`); code != 0 || n != 1 {
		t.Errorf("b's row pointing outside b: exit %d, %d pictures, want 1", code, n)
	}
	if !strings.Contains(errOut, "samples.png not read") || !strings.Contains(errOut, "outside") {
		t.Errorf("stderr %q, want a warning", errOut)
	}
}

// TestReportOfAMergedShardPointingOutside: a shard whose artifact row points outside it is
// either refused by merge or, once merged, its file is not read by the report.
func TestReportOfAMergedShardPointingOutside(t *testing.T) {
	dir := t.TempDir()
	const secret = "SECRET-TOKEN-91c2"
	outside := writeFile(t, dir, "secret.txt", secret)
	shard, main := filepath.Join(dir, "shard", "runs.db"), filepath.Join(dir, "main", "runs.db")
	recordQuick(t, shard)
	recordQuick(t, main, "seeds=[1]")
	execDB(t, shard, `UPDATE artifacts SET path = ? WHERE name = 'samples.png'`, outside)
	if code, _, _ := runCLI(t, "merge", "--db", main, shard); code != 0 {
		return // refused by merge: nothing of it reached the main database
	}
	code, page, errOut := runCLI(t, "report", "--db", main, "--format", "html")
	if code != 0 || strings.Contains(page, base64.StdEncoding.EncodeToString([]byte(secret))) || strings.Count(page, `alt="samples.png"`) != 1 {
		t.Errorf("report of the merged database: exit %d, secret embedded %v, %d pictures (want main's own only)",
			code, strings.Contains(page, base64.StdEncoding.EncodeToString([]byte(secret))), strings.Count(page, `alt="samples.png"`))
	}
	if !strings.Contains(errOut, "warning: run 2: samples.png not read") || !strings.Contains(errOut, "outside") {
		t.Errorf("stderr %q, want a warning about run 2's samples.png", errOut)
	}
}

// TestDiffReadsOnlyTheRunsOwnFiles: the bootstrap of report --diff reads each run's
// per-example bound from its own folder only; /dev/zero or a file outside is refused with a
// warning and the verdicts are still given.
func TestDiffReadsOnlyTheRunsOwnFiles(t *testing.T) {
	for _, target := range []string{"outside.csv", "/dev/zero"} {
		t.Run(target, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "runs.db")
			spec := writeFile(t, dir, "two.toml", quickSpec+"[sweep]\n\"train.lr\" = [0.001, 0.002]\n")
			if code, _, errOut := runCLI(t, "run", "-q", spec, "--db", db, "--set", "seeds=[0, 1]", "--set", "schedule.name=cosine",
				"--set", `eval.metrics=["nll"]`); code != 0 {
				t.Fatalf("run: %d %s", code, errOut)
			}
			if !filepath.IsAbs(target) {
				own, err := os.ReadFile(filepath.Join(dir, "runs", "1", "bound_per_example.csv"))
				must(t, err)
				target = writeFile(t, dir, target, string(own))
			}
			execDB(t, db, `UPDATE artifacts SET path = ? WHERE run_id = 1 AND name = 'bound_per_example.csv'`, target)
			hashes := groupHashes(t, db)
			code, out, errOut := runCLI(t, "report", "--db", db, "--diff", hashes[0], hashes[1])
			if code != 0 || !strings.Contains(out, "nll_nats_per_dim") {
				t.Fatalf("exit %d: %s %s", code, out, errOut)
			}
			if !strings.Contains(errOut, "warning: run 1: bound_per_example.csv not read") || !strings.Contains(errOut, "outside") {
				t.Errorf("stderr %q, want a warning naming run 1 and bound_per_example.csv", errOut)
			}
		})
	}
}

// groupHashes lists the groups of a database, as report --format json --view groups does.
func groupHashes(t *testing.T, db string) []string {
	t.Helper()
	_, out, errOut := runCLI(t, "report", "--db", db, "--format", "json", "--view", "groups")
	var groups []struct {
		GroupHash string `json:"group_hash"`
	}
	if err := json.Unmarshal([]byte(out), &groups); err != nil {
		t.Fatalf("groups: %v %s %s", err, out, errOut)
	}
	var hs []string
	for _, g := range groups {
		hs = append(hs, g.GroupHash)
	}
	return hs
}

// TestDatabaseThroughSymlinkKeepsOneArtifactFolder: runs made through a symlink to a
// database keep their artifacts beside the database file itself, so the real path finds
// them: its report shows their pictures and sample finds their checkpoint.
func TestDatabaseThroughSymlinkKeepsOneArtifactFolder(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "A"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "B"), 0o755))
	real, link := filepath.Join(dir, "B", "real.db"), filepath.Join(dir, "A", "link.db")
	recordQuick(t, real)
	must(t, os.Symlink(real, link))
	recordQuick(t, link, "seeds=[1]")
	if _, err := os.Stat(filepath.Join(dir, "B", "real", "2", "samples.png")); err != nil {
		t.Errorf("run 2, made through the link, has no folder beside the database file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "A", "link")); err == nil {
		t.Error("an artifact folder was made beside the symlink")
	}
	code, page, errOut := runCLI(t, "report", "--db", real, "--format", "html")
	if n := strings.Count(page, `alt="samples.png"`); code != 0 || n != 2 {
		t.Errorf("report through the real path: exit %d, %d pictures, want 2; %s", code, n, errOut)
	}
	if code, _, errOut := runCLI(t, "sample", "2", "--db", real, "-q", "--set", "sample.n=8"); code != 0 {
		t.Errorf("sample of run 2 through the real path: exit %d %s", code, errOut)
	}
}

// TestReportOverReadOnlyWALDatabases: report --db A --db B reads two databases in a
// read-only folder as it reads one.
func TestReportOverReadOnlyWALDatabases(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	a, b := filepath.Join(ro, "a", "runs.db"), filepath.Join(ro, "b", "runs.db")
	recordQuick(t, a, "seeds=[0]")
	recordQuick(t, b, "seeds=[1]")
	code, out := runReadOnly(t, ro, "report", "--db", a, "--db", b, "--format", "json")
	if code != 0 || strings.Count(out, `"status": "finished"`) != 2 {
		t.Errorf("two read-only databases: exit %d %s", code, out)
	}
}

// TestReportSignalRemovesTemporaryFiles: SIGINT, SIGTERM or SIGHUP (the terminal closed,
// the ssh connection lost) to a report that is writing --out over several --db removes its
// temporary file and its scratch database, and exits with 128 + the signal. SIGHUP once
// ended the report where it stood, leaving both.
func TestReportSignalRemovesTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a", "runs.db"), filepath.Join(dir, "b", "runs.db")
	recordQuick(t, a, "seeds=[0]")
	recordQuick(t, b, "seeds=[1]")
	self, err := os.Executable()
	must(t, err)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
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
			for _, pattern := range []string{filepath.Join(outDir, ".r.html.tmp-*"), filepath.Join(tmp, "ddpm-report-*")} {
				if m, _ := filepath.Glob(pattern); len(m) != 1 {
					t.Fatalf("before the signal: %v, want one %s", m, pattern)
				}
			}
			must(t, cmd.Process.Signal(sig))
			err := cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != 128+int(sig) {
				t.Errorf("exit %d (%v), want %d; %s", code, err, 128+int(sig), stderr.String())
			}
			for _, d := range []string{outDir, tmp} {
				if entries, _ := os.ReadDir(d); len(entries) != 0 {
					t.Errorf("%s holds %v after the signal", d, entries)
				}
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer that a child's output and the test may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// twoGroups records quickSpec over two schedules and seeds 0 and 1 in a new database.
func twoGroups(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	spec := writeFile(t, dir, "two.toml", quickSpec+"[sweep]\n\"schedule.name\" = [\"linear\", \"cosine\"]\n")
	db := filepath.Join(dir, "runs.db")
	if code, _, errOut := runCLI(t, "run", "-q", spec, "--db", db, "--set", "seeds=[0, 1]"); code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	return db
}

// TestDiffOfAGroupWithItself: --diff given one group twice (the same prefix, or two
// prefixes of one hash) says so with exit 2 instead of testing a group against itself.
func TestDiffOfAGroupWithItself(t *testing.T) {
	db := twoGroups(t)
	h := groupHashes(t, db)[0]
	for _, pair := range [][2]string{{h, h}, {h[:6], h}} {
		code, out, errOut := runCLI(t, "report", "--db", db, "--diff", pair[0], pair[1])
		if code != 2 || !strings.Contains(errOut, "are both group "+h) || strings.Contains(out, "not established") {
			t.Errorf("--diff %s %s: exit %d, %q %q", pair[0], pair[1], code, out, errOut)
		}
	}
}

// TestReportWithAnInfiniteSummary: an infinite summary is shown as +Inf (null in JSON),
// never as "++Inf" or with a NaN interval, and --diff says it cannot test it, in every
// format.
func TestReportWithAnInfiniteSummary(t *testing.T) {
	db := twoGroups(t)
	hashes := groupHashes(t, db)
	execDB(t, db, `UPDATE summaries SET value = 9e999 WHERE key = 'final_loss' AND run_id = 1`)
	for _, args := range [][]string{{"--format", "table"}, {"--format", "markdown"}, {"--format", "csv"}, {"--format", "json"},
		{"--format", "json", "--view", "groups"}, {"--format", "html"}, {"--view", "runs"}} {
		code, out, errOut := runCLI(t, append([]string{"report", "--db", db}, args...)...)
		if code != 0 || strings.Contains(out, "++Inf") || strings.Contains(out, "± NaN") {
			t.Errorf("%v: exit %d %s\n%s", args, code, errOut, out)
		}
		if args[1] == "json" && !json.Valid([]byte(out)) {
			t.Errorf("%v: not JSON: %s", args, out)
		}
	}
	code, out, errOut := runCLI(t, "report", "--db", db, "--diff", hashes[0], hashes[1])
	if code != 0 || strings.Contains(out, "++Inf") || strings.Contains(out, "NaN") ||
		!strings.Contains(out, "cannot test: run 1 (seed 0, in A) recorded final_loss = +Inf") {
		t.Errorf("--diff: exit %d %s\n%s", code, errOut, out)
	}
}

// TestReportWithTextInASummary: a summary holding text (a hand edit) makes every format say
// which run, key and value, instead of a raw SQL scan error.
func TestReportWithTextInASummary(t *testing.T) {
	db := twoGroups(t)
	execDB(t, db, `UPDATE summaries SET value = 'abc' WHERE key = 'final_loss' AND run_id = 1`)
	for _, args := range [][]string{{"--format", "table"}, {"--format", "markdown"}, {"--format", "csv"}, {"--format", "json"},
		{"--format", "html"}, {"--view", "runs"}, {"--compare", "1", "--compare", "2"}} {
		code, _, errOut := runCLI(t, append([]string{"report", "--db", db}, args...)...)
		if code == 0 || !strings.Contains(errOut, `run 1: summaries "final_loss" holds "abc", which is not a number`) ||
			strings.Contains(errOut, "converting") {
			t.Errorf("%v: exit %d %s", args, code, errOut)
		}
	}
}

// TestReportEscapesControlCharactersInEveryFormat: ESC and NUL in a spec name reach no
// format raw; CSV and the others write them as visible escapes.
func TestReportEscapesControlCharactersInEveryFormat(t *testing.T) {
	db := twoGroups(t)
	execDB(t, db, `UPDATE runs SET spec = 'a' || char(27) || '[31m' || char(0) || 'b', error = 'e' || char(27) || ']0;x' || char(7) WHERE id = 1`)
	for _, args := range [][]string{{"--format", "table"}, {"--format", "markdown"}, {"--format", "csv"}, {"--format", "json"},
		{"--format", "json", "--view", "groups"}, {"--format", "html"}, {"--view", "runs"}, {"--compare", "1", "--compare", "2"}} {
		code, out, errOut := runCLI(t, append([]string{"report", "--db", db}, args...)...)
		if code != 0 || strings.ContainsAny(out, "\x1b\x00\x07") {
			t.Errorf("%v: exit %d %s, raw control characters: %q", args, code, errOut, out)
		}
	}
	_, out, _ := runCLI(t, "report", "--db", db, "--format", "csv")
	if !strings.Contains(out, `a\x1b[31m\x00b`) {
		t.Errorf("csv does not show the escapes: %q", out)
	}
}

// TestReportOfOneDatabaseWithARecursiveView: a database from another machine whose
// summaries table was replaced by an endless recursive view (a few hundred bytes) is refused
// by report --db A --db B, since merge checks that its tables are tables; the same database
// given alone to report --db is refused too (exit 2, saying summaries is a view), not read
// for ever.
func TestReportOfOneDatabaseWithARecursiveView(t *testing.T) {
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
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "its summaries is a view") || !strings.Contains(string(out), db) {
		t.Errorf("report: %v %s; want exit 2 naming %s and saying its summaries is a view", err, out, db)
	}
}
