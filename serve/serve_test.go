package serve

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// store is a results database written through the results API, as a runner writes one.
type store struct {
	path string
	w    *results.Store
}

func newStore(t *testing.T) *store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "runs.db")
	w, err := results.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ClaimArtifactRoot(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return &store{path: path, w: w}
}

// run records a run of spec with seed and its loss at steps 1..logged of steps.
func (s *store) run(t *testing.T, spec string, seed, logged, steps int, params map[string]string) int64 {
	t.Helper()
	p := map[string]string{"train.steps": strconv.Itoa(steps), "seed": strconv.Itoa(seed)}
	for k, v := range params {
		p[k] = v
	}
	id, err := s.w.CreateRun(results.NewRun{Spec: spec, SpecFile: spec + ".toml", Hash: spec + strconv.Itoa(seed), GroupHash: "g-" + spec,
		Seed: seed, Params: p})
	if err != nil {
		t.Fatal(err)
	}
	s.steps(t, id, 1, logged)
	return id
}

// steps logs the loss of run id at steps from..to.
func (s *store) steps(t *testing.T, id int64, from, to int) {
	t.Helper()
	mw := s.w.Metrics(id, 1000)
	for step := from; step <= to; step++ {
		if err := mw.Add("loss", step, 1/float64(step)); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Flush(); err != nil {
		t.Fatal(err)
	}
}

// artifact writes a file into run id's folder (at rel inside it) and records it as name.
func (s *store) artifact(t *testing.T, id int64, name, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(s.w.ArtifactRoot(), strconv.FormatInt(id, 10), rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.w.AddArtifact(id, name, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// server serves the store, opened read-only as runner serve opens it.
func (s *store) server(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	ro, err := results.OpenReadOnly(s.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	opts.Sources = []Source{{Name: s.path, Store: ro}}
	srv := httptest.NewServer(New(opts))
	t.Cleanup(srv.Close)
	return srv
}

func pngBytes(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

func runsOf(t *testing.T, url string) runsView {
	t.Helper()
	code, body := get(t, url)
	var v runsView
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
		t.Fatalf("GET %s: %d %v\n%s", url, code, err, body)
	}
	return v
}

// TestRunsTable: every run is a row with its status, its step of steps and a rate; a run
// whose owner is gone shows as crashed; the filters select as runner report's do.
func TestRunsTable(t *testing.T) {
	s := newStore(t)
	done := s.run(t, "quick", 0, 100, 100, map[string]string{"schedule.name": "linear"})
	if err := s.w.SetSummaries(done, map[string]float64{"final_loss": 0.25, "steps_per_sec": 10}); err != nil {
		t.Fatal(err)
	}
	if err := s.w.EndRun(done, results.StatusFinished, ""); err != nil {
		t.Fatal(err)
	}
	live := s.run(t, "quick", 1, 40, 100, map[string]string{"schedule.name": "cosine"})
	gone := s.run(t, "other", 0, 5, 50, nil)
	srv := s.server(t, Options{Crashed: func(r *results.Run) bool { return r.ID == gone }})

	v := runsOf(t, srv.URL+"/api/runs")
	if len(v.Runs) != 3 || len(v.Errors) != 0 || v.Live != 1 {
		t.Fatalf("runs %d, errors %v, live %d; want 3 runs, no errors, 1 live", len(v.Runs), v.Errors, v.Live)
	}
	byID := map[int64]runRow{}
	for _, r := range v.Runs {
		byID[r.ID] = r
	}
	for _, tc := range []struct {
		id     int64
		status string
		step   int
		steps  int
	}{{done, "finished", 100, 100}, {live, "running", 40, 100}, {gone, "crashed", 5, 50}} {
		r := byID[tc.id]
		if r.Status != tc.status || r.Step == nil || *r.Step != tc.step || r.Steps == nil || *r.Steps != tc.steps {
			t.Errorf("run %d: %s step %v of %v, want %s %d of %d", tc.id, r.Status, r.Step, r.Steps, tc.status, tc.step, tc.steps)
		}
	}
	if r := byID[done]; r.Summaries["final_loss"] == nil || *r.Summaries["final_loss"] != 0.25 || r.Summaries["steps_per_sec"] != nil {
		t.Errorf("summaries of run %d: %v; want final_loss and not the machine's speed", done, r.Summaries)
	}
	if r := byID[live]; r.Heartbeat == nil || *r.Heartbeat < 0 {
		t.Errorf("a live run has no heartbeat age: %v", r.Heartbeat)
	}
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"", []int64{done, live, gone}},
		{"?spec=other", []int64{gone}},
		{"?status=running", []int64{live}},
		{"?status=crashed", []int64{gone}},
		{"?where=schedule.name%3Dcosine", []int64{live}},
	} {
		var got []int64
		for _, r := range runsOf(t, srv.URL+"/api/runs"+tc.query).Runs {
			got = append(got, r.ID)
		}
		if !slicesEqual(got, tc.want) {
			t.Errorf("/api/runs%s: runs %v, want %v", tc.query, got, tc.want)
		}
	}
	if code, body := get(t, srv.URL+"/api/runs?where=nokey"); code != 400 || !strings.Contains(body, "key=value") {
		t.Errorf("a bad where: %d %s", code, body)
	}
	for _, page := range []string{"/", "/run/0/1", "/compare", "/sweeps", "/static/app.js", "/static/uplot/uPlot.iife.min.js"} {
		if code, _ := get(t, srv.URL+page); code != 200 {
			t.Errorf("GET %s: %d", page, code)
		}
	}
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestArtifactsOnlyFromTheRunsFolder: a picture is served by its recorded name only, and
// only from inside its run's folder; traversal in the request, a recorded path that leaves
// the folder, a symlink out of it and a file that is not a PNG are refused.
func TestArtifactsOnlyFromTheRunsFolder(t *testing.T) {
	s := newStore(t)
	id := s.run(t, "quick", 0, 3, 3, nil)
	other := s.run(t, "quick", 1, 3, 3, nil)
	pic := pngBytes(t)
	s.artifact(t, id, "samples_grid.png", "samples_grid.png", pic)
	s.artifact(t, other, "secret.png", "secret.png", pic)
	s.artifact(t, id, "notes.png", "notes.png", []byte("not a picture"))
	outside := filepath.Join(t.TempDir(), "outside.png")
	if err := os.WriteFile(outside, pic, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.w.AddArtifact(id, "outside.png", outside); err != nil {
		t.Fatal(err)
	}
	if err := s.w.AddArtifact(id, "passwd.png", "/etc/passwd"); err != nil {
		t.Fatal(err)
	}
	if err := s.w.AddArtifact(id, "neighbour.png", filepath.Join(s.w.ArtifactRoot(), strconv.FormatInt(other, 10), "secret.png")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(s.w.ArtifactRoot(), strconv.FormatInt(id, 10), "link.png")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := s.w.AddArtifact(id, "link.png", link); err != nil {
		t.Fatal(err)
	}
	srv := s.server(t, Options{})
	base := srv.URL + "/artifact/0/" + strconv.FormatInt(id, 10) + "/"
	for _, tc := range []struct {
		path string
		code int
	}{
		{"samples_grid.png", 200},
		{"..%2F..%2F..%2Fetc%2Fpasswd", 404},
		{"..%2F" + strconv.FormatInt(other, 10) + "%2Fsecret.png", 404},
		{"%2Fetc%2Fpasswd", 404},
		{"unrecorded.png", 404},
		{"outside.png", 403},
		{"passwd.png", 403},
		{"neighbour.png", 403},
		{"link.png", 403},
		{"notes.png", 403},
	} {
		code, body := get(t, base+tc.path)
		if code != tc.code {
			t.Errorf("GET %s: %d, want %d: %s", tc.path, code, tc.code, body)
		}
		if code == 200 && body != string(pic) {
			t.Errorf("GET %s: not the recorded picture", tc.path)
		}
	}
	for _, path := range []string{"/artifact/0/1/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/artifact/0/../../etc/passwd", "/static/../serve.go",
		"/static/..%2fserve.go", "/artifact/1/1/samples_grid.png", "/artifact/x/1/samples_grid.png", "/artifact/0/-1/samples_grid.png"} {
		code, body := get(t, srv.URL+path)
		if code == 200 || strings.Contains(body, "root:") || strings.Contains(body, "package serve") {
			t.Errorf("GET %s: %d %q", path, code, body)
		}
	}
	// The run page lists the pictures it can show and says why the others were left out.
	code, body := get(t, srv.URL+"/api/run/0/"+strconv.FormatInt(id, 10))
	var v runView
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
		t.Fatalf("run %d: %d %v", id, code, err)
	}
	if len(v.Pictures) != 1 || v.Pictures[0] != "samples_grid.png" || len(v.Warnings) != 5 {
		t.Errorf("pictures %v, warnings %q; want only samples_grid.png and five refusals", v.Pictures, v.Warnings)
	}
}

// TestHostileNamesAreText: names with markup are never markup in a page: the JSON in the
// pages escapes < and >, the compare page escapes them as HTML.
func TestHostileNamesAreText(t *testing.T) {
	s := newStore(t)
	nasty := `x</script><script>alert(1)</script><img src=x onerror=alert(2)>`
	id := s.run(t, nasty, 0, 3, 3, map[string]string{"schedule.name": nasty})
	if err := s.w.SetSummaries(id, map[string]float64{"final_loss": 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.w.EndRun(id, results.StatusFailed, nasty); err != nil {
		t.Fatal(err)
	}
	s.run(t, nasty, 1, 3, 3, map[string]string{"schedule.name": "linear"})
	srv := s.server(t, Options{})
	for _, page := range []string{"/", "/?spec=" + strings.ReplaceAll(nasty, " ", "+"), "/run/0/1", "/compare", "/api/runs", "/api/run/0/1"} {
		code, body := get(t, srv.URL+page)
		if code != 200 {
			t.Errorf("GET %s: %d", page, code)
		}
		for _, bad := range []string{"<script>alert", "<img src=x", "</script><script>"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: the page holds %q as markup", page, bad)
			}
		}
	}
	if _, body := get(t, srv.URL+"/compare"); !strings.Contains(body, "&lt;script&gt;alert(1)") {
		t.Error("the compare page does not show the name as text")
	}
	if _, body := get(t, srv.URL+"/api/runs"); !strings.Contains(body, `\u003cscript\u003ealert(1)`) {
		t.Error("the runs JSON does not hold the name, escaped")
	}
}

// TestVanishedRunAndReadOnly: a run deleted while the server runs is a 404 and leaves the
// table; nothing the server answers changes the database; only GET and HEAD are answered.
func TestVanishedRunAndReadOnly(t *testing.T) {
	s := newStore(t)
	a := s.run(t, "quick", 0, 10, 10, nil)
	b := s.run(t, "quick", 1, 10, 10, nil)
	srv := s.server(t, Options{})
	if code, _ := get(t, srv.URL+"/run/0/"+strconv.FormatInt(b, 10)); code != 200 {
		t.Fatalf("run %d: %d", b, code)
	}
	if _, err := s.w.DB.Exec("DELETE FROM runs WHERE id = ?", b); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/run/0/", "/api/run/0/"} {
		if code, body := get(t, srv.URL+path+strconv.FormatInt(b, 10)); code != 404 || !strings.Contains(body, "no such run") {
			t.Errorf("GET %s%d after it was deleted: %d %s", path, b, code, body)
		}
	}
	if v := runsOf(t, srv.URL+"/api/runs"); len(v.Runs) != 1 || v.Runs[0].ID != a {
		t.Errorf("runs after a deletion: %+v", v.Runs)
	}
	if err := s.w.DB.Close(); err != nil { // the writer's WAL is checkpointed into the file
		t.Fatal(err)
	}
	sum := func() [32]byte {
		b, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()
	for _, path := range []string{"/", "/api/runs", "/run/0/1", "/api/run/0/1", "/compare", "/compare?a=g&b=g"} {
		get(t, srv.URL+path)
	}
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		req, _ := http.NewRequest(method, srv.URL+"/api/runs", strings.NewReader("x"))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", method, r.StatusCode)
		}
	}
	if sum() != before {
		t.Error("serving changed the database file")
	}
}

// TestServesWhileWritten: a writer logging steps (as a training run does, in WAL mode) and
// the server reading at once: every answer succeeds and the step count grows.
func TestServesWhileWritten(t *testing.T) {
	s := newStore(t)
	id := s.run(t, "quick", 0, 1, 400, nil)
	srv := s.server(t, Options{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for step := 2; step <= 400; step += 10 {
			s.steps(t, id, step, step+9)
			_ = s.w.Heartbeat(id)
		}
	}()
	last := 0
	for i := 0; i < 30; i++ {
		v := runsOf(t, srv.URL+"/api/runs")
		if len(v.Runs) != 1 || len(v.Errors) != 0 || v.Runs[0].Step == nil || *v.Runs[0].Step < last {
			t.Fatalf("read %d while written: %+v", i, v)
		}
		last = *v.Runs[0].Step
		if code, _ := get(t, srv.URL+"/api/run/0/1"); code != 200 {
			t.Fatalf("run page while written: %d", code)
		}
	}
	wg.Wait()
	if v := runsOf(t, srv.URL+"/api/runs"); *v.Runs[0].Step != 401 {
		t.Errorf("after the writer: step %d, want 401", *v.Runs[0].Step)
	}
}

// TestRunsSnapshot: runner report --view runs --format html is the runs page as one file:
// its style and script inline, nothing fetched from a server, the runs in its data with
// markup escaped, and nothing that polls.
func TestRunsSnapshot(t *testing.T) {
	s := newStore(t)
	nasty := `</script><script>alert(1)</script>`
	s.run(t, nasty, 0, 10, 10, nil)
	s.run(t, "quick", 1, 5, 10, nil)
	ro, err := results.OpenReadOnly(s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	runs, err := ro.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteRunsSnapshot(&b, Source{Name: "runs.db", Store: ro}, runs); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{`src="/`, `href="/`, "<script>alert", `data-live="true"`} {
		if strings.Contains(page, bad) {
			t.Errorf("the snapshot holds %q", bad)
		}
	}
	for _, want := range []string{`data-live="false"`, "function drawRuns", "border-collapse", `\u003c/script\u003e`, `"step":5,"steps":10`} {
		if !strings.Contains(page, want) {
			t.Errorf("the snapshot lacks %q", want)
		}
	}
}
