package serve

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/interop/npy"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// samplesNPZ is a samples.npz of n images of h x w x c, as the engine writes one.
func samplesNPZ(t *testing.T, n, h, w, c int) []byte {
	t.Helper()
	pix := make([]uint8, n*h*w*c)
	for i := range pix {
		pix[i] = uint8(i * 37)
	}
	path := filepath.Join(t.TempDir(), "samples.npz")
	if err := npy.WriteSamples(path, pix, n, h, w, c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hostileNPZ is a zip holding an arr_0.npy of the given bytes.
func hostileNPZ(t *testing.T, member []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	f, err := zw.Create("arr_0.npy")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(member)
	zw.Close()
	return b.Bytes()
}

func runViewOf(t *testing.T, url string) runView {
	t.Helper()
	code, body := get(t, url)
	var v runView
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
		t.Fatalf("GET %s: %d %v\n%s", url, code, err, body)
	}
	return v
}

// TestRunPageDrawsSamplesNPZ: a run that recorded a samples.npz and no PNG grid shows a grid
// of its first samples, served from /samples/; a run with a PNG grid shows that one only; the
// snapshot carries the grid in the page.
func TestRunPageDrawsSamplesNPZ(t *testing.T) {
	s := newStore(t)
	only := s.run(t, "img", 0, 3, 3, nil)
	s.artifact(t, only, results.SamplesNPZArtifact, "samples.npz", samplesNPZ(t, 120, 8, 8, 3))
	both := s.run(t, "img", 1, 3, 3, nil)
	s.artifact(t, both, results.SamplesNPZArtifact, "samples.npz", samplesNPZ(t, 4, 8, 8, 1))
	s.artifact(t, both, results.SampleGridArtifact, "samples_grid.png", pngBytes(t))
	srv := s.server(t, Options{})

	v := runViewOf(t, fmt.Sprintf("%s/api/run/0/%d", srv.URL, only))
	if len(v.Pictures) != 1 || v.Pictures[0] != results.SamplesNPZArtifact || len(v.Warnings) != 0 {
		t.Fatalf("pictures %q, warnings %q; want the grid of samples.npz", v.Pictures, v.Warnings)
	}
	if !strings.Contains(string(v.BodyHTML), fmt.Sprintf(`src="/samples/0/%d?v=`, only)) ||
		!strings.Contains(string(v.BodyHTML), "the first 100 of its 120 samples (8 x 8, 3 channels)") {
		t.Errorf("the run's page:\n%s", v.BodyHTML)
	}
	code, body := get(t, fmt.Sprintf("%s/samples/0/%d", srv.URL, only))
	img, err := png.Decode(strings.NewReader(body))
	if code != 200 || err != nil {
		t.Fatalf("GET /samples/0/%d: %d %v", only, code, err)
	}
	// 8 x 8 images drawn 7 times larger, ten a row, each with a one-pixel gap.
	if b := img.Bounds(); b.Dx() != 10*57+1 || b.Dy() != 10*57+1 {
		t.Errorf("the grid is %v, want 10 x 10 images of 56 pixels", b)
	}

	v = runViewOf(t, fmt.Sprintf("%s/api/run/0/%d", srv.URL, both))
	if len(v.Pictures) != 1 || v.Pictures[0] != results.SampleGridArtifact {
		t.Errorf("a run with a PNG grid shows %q, want its grid only", v.Pictures)
	}
	if code, _ := get(t, fmt.Sprintf("%s/samples/0/%d", srv.URL, s.run(t, "none", 2, 1, 1, nil))); code != 404 {
		t.Errorf("/samples/ of a run without samples.npz: %d, want 404", code)
	}

	ro, err := results.OpenReadOnly(s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	runs, err := ro.Runs(results.Filter{IDs: []int64{only}})
	if err != nil {
		t.Fatal(err)
	}
	var page, warn strings.Builder
	if err := WriteReport(&page, Source{Name: "runs.db", Store: ro}, report.GroupRuns(runs), &warn); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), `<img src="data:image/png;base64,`) || !strings.Contains(page.String(), `alt="samples.npz"`) ||
		strings.Contains(page.String(), "/samples/") || warn.Len() != 0 {
		t.Errorf("the report's section of the run: no grid in the page, or a link to a server (warnings %q)", warn.String())
	}
}

// TestHostileSamplesNPZ: a samples.npz that is not one, says it holds more than may be
// drawn, or lies outside the run's folder is refused with a line on the page saying why; the
// page and the server go on.
func TestHostileSamplesNPZ(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "outside.npz")
	for _, c := range []struct {
		name string
		file func(t *testing.T) []byte
		link bool // samples.npz is a symlink to a good file outside the run's folder
		why  string
	}{
		{"not a zip", func(*testing.T) []byte { return []byte("SECRET not an archive") }, false, "no zip directory"},
		{"cut short", func(t *testing.T) []byte { b := samplesNPZ(t, 4, 8, 8, 3); return b[:len(b)/2] }, false, "not a NumPy .npz archive"},
		{"header length of 4 GB", func(t *testing.T) []byte { return hostileNPZ(t, []byte("\x93NUMPY\x02\x00\xff\xff\xff\xff")) }, false, "more than the 65536 allowed"},
		{"images of 100000 x 100000", func(t *testing.T) []byte {
			h := "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 100000, 100000, 3), }"
			h += strings.Repeat(" ", 63-(10+len(h))%64) + "\n"
			return hostileNPZ(t, append([]byte("\x93NUMPY\x01\x00"+string([]byte{byte(len(h)), byte(len(h) >> 8)})), h...))
		}, false, "bytes allowed"},
		{"too wide to draw", func(t *testing.T) []byte { return samplesNPZ(t, 1, 2, 3000, 1) }, false, "do not fit a picture of 2048 pixels"},
		{"two channels", func(t *testing.T) []byte { return samplesNPZ(t, 1, 4, 4, 2) }, false, "of 2 channels"},
		{"no samples", func(t *testing.T) []byte { return samplesNPZ(t, 0, 4, 4, 3) }, false, "holds no samples"},
		{"symlink out of the run's folder", func(t *testing.T) []byte { return samplesNPZ(t, 4, 8, 8, 3) }, true, "outside"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			id := s.run(t, "img", 0, 3, 3, nil)
			p := s.artifact(t, id, results.SamplesNPZArtifact, "samples.npz", c.file(t))
			if c.link {
				if err := os.Rename(p, outside); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(outside, p); err != nil {
					t.Fatal(err)
				}
			}
			srv := s.server(t, Options{})
			base := srv.URL + "/api/run/0/" + strconv.FormatInt(id, 10)
			v := runViewOf(t, base)
			if len(v.Pictures) != 0 || len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "samples.npz") || !strings.Contains(v.Warnings[0], c.why) {
				t.Errorf("pictures %q, warnings %q; want samples.npz refused saying %q", v.Pictures, v.Warnings, c.why)
			}
			if !strings.Contains(string(v.HeadHTML), `class="error warning"`) || strings.Contains(string(v.BodyHTML), "<img") {
				t.Errorf("the page does not say why it shows no picture:\n%s\n%s", v.HeadHTML, v.BodyHTML)
			}
			if code, body := get(t, srv.URL+"/samples/0/"+strconv.FormatInt(id, 10)); code != 403 || !strings.Contains(body, c.why) {
				t.Errorf("GET /samples/: %d %q, want 403 saying %q", code, body, c.why)
			}
			if code, _ := get(t, srv.URL+"/run/0/"+strconv.FormatInt(id, 10)); code != 200 {
				t.Errorf("the run's page: %d", code)
			}
		})
	}
}

// TestReportSectionIsTheRunPage: runner report --format html draws a run's section with the
// run page's own templates: the same markup as the live page, but for where the pictures
// come from (the page itself rather than the server).
func TestReportSectionIsTheRunPage(t *testing.T) {
	s := newStore(t)
	nasty := `<b>x</b>&"`
	id := s.run(t, "img", 0, 3, 3, map[string]string{"note": nasty})
	s.artifact(t, id, results.SampleGridArtifact, "samples_grid.png", pngBytes(t))
	s.artifact(t, id, "notes.png", "notes.png", []byte("not a picture"))
	if err := s.w.SetSummaries(id, map[string]float64{"final_loss": 0.5}); err != nil {
		t.Fatal(err)
	}
	if err := s.w.EndRun(id, results.StatusFailed, nasty); err != nil {
		t.Fatal(err)
	}
	srv := s.server(t, Options{})
	live := runViewOf(t, fmt.Sprintf("%s/api/run/0/%d", srv.URL, id))

	ro, err := results.OpenReadOnly(s.path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	runs, err := ro.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var page, warn strings.Builder
	if err := WriteReport(&page, Source{Name: s.path, Store: ro}, report.GroupRuns(runs), &warn); err != nil {
		t.Fatal(err)
	}
	open := fmt.Sprintf(`<section class="run" id="run-%d">`, id)
	start := strings.Index(page.String(), open)
	if start < 0 {
		t.Fatalf("the report has no section of run %d", id)
	}
	static := page.String()[start+len(open):]
	static = static[:strings.Index(static, "</section>")]
	src := func(html string) string {
		for _, prefix := range []string{`src="data:`, `src="/artifact/`} {
			for i := strings.Index(html, prefix); i >= 0; i = strings.Index(html, prefix) {
				end := i + len(`src="`) + strings.Index(html[i+len(`src="`):], `"`)
				html = html[:i] + "SRC" + html[end+1:]
			}
		}
		return html
	}
	if got, want := src(static), src(string(live.HeadHTML+live.BodyHTML)); got != want {
		t.Errorf("the report's section of run %d:\n%s\nthe run's page:\n%s", id, got, want)
	}
	if strings.Contains(static, "<b>x</b>") || !strings.Contains(static, "&lt;b&gt;x&lt;/b&gt;") {
		t.Error("the section holds the run's error as markup")
	}
	if !strings.Contains(warn.String(), "notes.png not read") || strings.Count(warn.String(), "\n") != 1 {
		t.Errorf("warnings %q, want one about notes.png", warn.String())
	}
}

// TestCompareSaysWhichDatabase: with several databases the compare page compares the groups
// of the one chosen, says which, and names the command that compares them all.
func TestCompareSaysWhichDatabase(t *testing.T) {
	a, b := newStore(t), newStore(t)
	a.run(t, "alpha", 0, 3, 3, nil)
	b.run(t, "beta", 0, 3, 3, nil)
	var srcs []Source
	for _, s := range []*store{a, b} {
		ro, err := results.OpenReadOnly(s.path)
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		srcs = append(srcs, Source{Name: s.path, Store: ro})
	}
	srcs[1].Name = filepath.Join(filepath.Dir(b.path), "<i>b</i>.db")
	srv := httptestServer(t, New(Options{Sources: srcs}))
	code, body := get(t, srv+"/compare?db=1")
	if code != 200 || !strings.Contains(body, "The groups of one database, <b>"+filepath.Dir(b.path)+"/&lt;i&gt;b&lt;/i&gt;.db</b>") {
		t.Errorf("the compare page of database 1 does not say which it shows:\n%s", body)
	}
	if !strings.Contains(body, "runner report --db "+a.path+" --db ") || !strings.Contains(body, "--format html") {
		t.Error("the compare page does not name the command that compares every database")
	}
	if !strings.Contains(body, `href="/run/1/1"`) || strings.Contains(body, `href="/run/0/1"`) || !strings.Contains(body, "beta") || strings.Contains(body, "alpha</td>") {
		t.Error("the compare page of database 1 does not list its runs (and only its)")
	}
	if _, one := get(t, httptestServer(t, New(Options{Sources: srcs[:1]}))+"/compare"); strings.Contains(one, "The groups of one database") {
		t.Error("with one database the page still speaks of choosing one")
	}
}

// httptestServer serves h for the test and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
