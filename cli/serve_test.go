package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ddpm-runner/ddpm-runner/results"
)

var servingRE = regexp.MustCompile(`on (http://\S+)/ `)

// startServe runs runner serve with opts (on a free port unless opts.addr says otherwise)
// until the test ends, and returns its base URL and standard error.
func startServe(t *testing.T, opts serveOptions) (string, *lockedBuffer) {
	t.Helper()
	if opts.addr == "" {
		opts.addr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, opts, globalOptions{stdout: out, stderr: errOut}, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner serve: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := servingRE.FindStringSubmatch(out.String()); m != nil {
			return m[1], errOut
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("runner serve ended: %v\n%s", err, errOut.String())
		default:
		}
	}
	t.Fatalf("runner serve said nothing: %s %s", out.String(), errOut.String())
	return "", nil
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, r.StatusCode, b)
	}
	return string(b)
}

// TestServeRefusesBadInputAtStart: a --db that is not there, or not a database, and a bad
// --addr are errors before anything listens (exit 2), not an empty page.
func TestServeRefusesBadInputAtStart(t *testing.T) {
	dir := t.TempDir()
	junk := writeFile(t, dir, "junk.db", "this is not a database")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--db", filepath.Join(dir, "missing.db")}, "no results database there"},
		{[]string{"--db", junk}, "not a SQLite database"},
		{[]string{"--db", junk, "--sweep", filepath.Join(dir, "nosweep")}, "not a SQLite database"},
		{[]string{"--db", filepath.Join(dir, "missing.db"), "--addr", "nonsense"}, "no results database there"},
	} {
		code, _, errOut := runCLI(t, append([]string{"serve"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("serve %v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	db := filepath.Join(dir, "runs.db")
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if code, _, errOut := runCLI(t, "serve", "--db", db, "--addr", "nonsense"); code != 2 || !strings.Contains(errOut, "want HOST:PORT") {
		t.Errorf("a bad --addr: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "serve", "--db", db, "--sweep", filepath.Join(dir, "nosweep")); code != 2 || !strings.Contains(errOut, "--sweep") {
		t.Errorf("a missing --sweep: exit %d %s", code, errOut)
	}
}

// TestServeSaysWhatItExposes: listening on every interface is said, naming what is shown;
// the default address is the loopback one.
func TestServeSaysWhatItExposes(t *testing.T) {
	db := filepath.Join(t.TempDir(), "runs.db")
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, errOut := startServe(t, serveOptions{dbs: []string{db}, addr: "0.0.0.0:0"})
	if msg := errOut.String(); !strings.Contains(msg, "every network interface") || !strings.Contains(msg, db) {
		t.Errorf("serving on 0.0.0.0 said %q", msg)
	}
	app := newApp()
	for _, c := range app.Commands {
		if c.Name == "serve" {
			for _, f := range c.Flags {
				if f.Names()[0] == "addr" && !strings.Contains(f.String(), `"127.0.0.1:8080"`) {
					t.Errorf("the default --addr is not the loopback one: %s", f.String())
				}
			}
		}
	}
}

// TestServeShowsACorruptShardAsAnErrorRow: a sweep whose trial shard is not a database is
// shown with that trial's error, and the other trials as they are.
func TestServeShowsACorruptShardAsAnErrorRow(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	specPath := writeFile(t, dir, "sweep.toml", sweepSpec)
	sw := filepath.Join(dir, "sw")
	if code, _, errOut := runCLI(t, "submit", "--slurm", "--dry-run", "--sweep", sw, specPath); code != 0 {
		t.Fatalf("submit: %d %s", code, errOut)
	}
	if err := os.MkdirAll(filepath.Join(sw, "shards"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(sw, "shards"), "trial-2.db", "garbage, not SQLite")
	db := filepath.Join(dir, "runs.db")
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	url, _ := startServe(t, serveOptions{dbs: []string{db}, sweeps: []string{sw}})
	var sweeps []struct {
		Trials []struct {
			Trial int
			State string
			Error string
		}
	}
	if err := json.Unmarshal([]byte(httpGet(t, url+"/api/sweeps")), &sweeps); err != nil || len(sweeps) != 1 || len(sweeps[0].Trials) != 4 {
		t.Fatalf("sweeps: %v %+v", err, sweeps)
	}
	for _, tr := range sweeps[0].Trials {
		bad := tr.Trial == 2
		if bad != strings.Contains(tr.Error, "not a SQLite database") || (!bad && tr.State != "not started") {
			t.Errorf("trial %d: state %q, error %q", tr.Trial, tr.State, tr.Error)
		}
	}
	httpGet(t, url+"/sweeps")
}

// verdictRows are the metric and verdict rows of runner report diff's output.
func verdictRows(out string) [][2]string {
	var rows [][2]string
	started := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "metric ") {
			started = true
			continue
		}
		if started && strings.TrimSpace(line) != "" {
			k, v, _ := strings.Cut(line, " ")
			rows = append(rows, [2]string{k, strings.TrimSpace(v)})
		}
	}
	return rows
}

var diffRowRE = regexp.MustCompile(`<tr><td>([^<]*)</td><td class="verdict">([^<]*)</td></tr>`)

// TestServeCompareShowsTheCLIsDiff: the compare page of two groups shows runner report
// diff's verdicts, word for word.
func TestServeCompareShowsTheCLIsDiff(t *testing.T) {
	dir := t.TempDir()
	db := twoGroupStore(t, dir)
	hs := groupHashes(t, db)
	if len(hs) != 2 {
		t.Fatalf("groups %v, want two", hs)
	}
	a, b := hs[0], hs[1]
	code, out, errOut := runCLI(t, "report", "diff", "--db", db, a, b)
	want := verdictRows(out)
	if code != 0 || len(want) == 0 {
		t.Fatalf("report diff: %d %s %s", code, out, errOut)
	}
	url, _ := startServe(t, serveOptions{dbs: []string{db}})
	page := httpGet(t, url+"/compare?db=0&a="+a+"&b="+b)
	var got [][2]string
	for _, m := range diffRowRE.FindAllStringSubmatch(page, -1) {
		got = append(got, [2]string{htmlUnescape(m[1]), htmlUnescape(m[2])})
	}
	if len(got) != len(want) {
		t.Fatalf("the compare page shows %d verdicts, the CLI %d:\n%q\n%q", len(got), len(want), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("verdict %d: page %q, CLI %q", i, got[i], want[i])
		}
	}
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&amp;", "&", "&#43;", "+").Replace(s)
}

// twoGroupStore runs quickSpec with two schedules and three seeds into dir/runs.db.
func twoGroupStore(t *testing.T, dir string) string {
	t.Helper()
	spec := writeFile(t, dir, "two.toml", quickSpec+"[sweep]\n\"schedule.name\" = [\"linear\", \"cosine\"]\n")
	db := filepath.Join(dir, "runs.db")
	if code, _, errOut := runCLI(t, "run", "-q", spec, "--db", db, "--set", "seeds=[0, 1, 2]"); code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	return db
}

// TestServeShowsCrashedRuns: a run recorded as running shows as crashed where Reconcile
// would record it so (its process gone on this host, or its heartbeat old on another), and
// as running while its owner lives; the database is not changed.
func TestServeShowsCrashedRuns(t *testing.T) {
	db := filepath.Join(t.TempDir(), "runs.db")
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	cases := []struct {
		name, host, heartbeat string
		pid                   int
		want                  string
	}{
		{"alive here", results.Host(), "", os.Getpid(), "running"},
		{"gone here", results.Host(), "", gone.Process.Pid, "crashed"},
		{"fresh elsewhere", "another-host", time.Now().UTC().Format(time.RFC3339Nano), 1, "running"},
		{"stale elsewhere", "another-host", old, 1, "crashed"},
	}
	ids := map[int64]string{}
	for _, tc := range cases {
		id, err := s.CreateRun(results.NewRun{Spec: tc.name, Hash: tc.name, GroupHash: tc.name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB.Exec("UPDATE runs SET host = ?, pid = ?, heartbeat = COALESCE(NULLIF(?, ''), heartbeat) WHERE id = ?", tc.host, tc.pid, tc.heartbeat, id); err != nil {
			t.Fatal(err)
		}
		ids[id] = tc.want
	}
	url, _ := startServe(t, serveOptions{dbs: []string{db}})
	var v struct {
		Runs []struct {
			ID     int64
			Spec   string
			Status string
		}
	}
	if err := json.Unmarshal([]byte(httpGet(t, url+"/api/runs")), &v); err != nil || len(v.Runs) != len(cases) {
		t.Fatalf("runs: %v %+v", err, v)
	}
	for _, r := range v.Runs {
		if r.Status != ids[r.ID] {
			t.Errorf("%s: shown %s, want %s", r.Spec, r.Status, ids[r.ID])
		}
	}
	if runs, _ := s.Runs(results.Filter{Status: results.StatusRunning}); len(runs) != len(cases) {
		t.Errorf("serving changed the runs' records: %d still running", len(runs))
	}
}
