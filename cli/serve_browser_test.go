package cli

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color/palette"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddpm-runner/ddpm-runner/interop/npy"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// go test ./cli -run 'TestServeInChromium|TestReportInChromium' -update-screenshots
// rewrites the screenshots in docs/ from what these tests show.
var updateScreenshots = flag.Bool("update-screenshots", false, "write the pages' screenshots into docs/")

// browser is headless Chromium driven through the DevTools protocol over a pipe
// (--remote-debugging-pipe: JSON messages ended by a NUL byte on file descriptors 3 and 4),
// so a test reads one page several times without reloading it.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      *os.File
	out     *bufio.Reader
	next    int
	session string
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium); the pages were not looked at in a browser")
	}
	toChrome, fromTest, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromChrome, toTest, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// Chromium's helper processes may still write its profile after it is killed: the
	// profile is removed when they are gone, and an error removing it fails no test.
	profile, err := os.MkdirTemp("", "chromium-profile-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--remote-debugging-pipe", "--user-data-dir="+profile, "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, toTest}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toChrome.Close()
	toTest.Close()
	b := &browser{t: t, cmd: cmd, in: fromTest, out: bufio.NewReader(fromChrome)}
	t.Cleanup(func() {
		b.in.Close()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // Chromium and its helpers, its own process group
		cmd.Wait()
		os.RemoveAll(profile)
	})
	var target struct{ TargetID string }
	b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct{ SessionID string }
	b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	b.session = att.SessionID
	b.call(b.session, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil)
	return b
}

// call sends one command and waits for its answer (events in between are skipped).
func (b *browser) call(session, method string, params any, result any) {
	b.t.Helper()
	b.next++
	msg := map[string]any{"id": b.next, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	data, _ := json.Marshal(msg)
	if _, err := b.in.Write(append(data, 0)); err != nil {
		b.t.Fatalf("chromium: %s: %v", method, err)
	}
	for {
		line, err := b.out.ReadBytes(0)
		if err != nil {
			b.t.Fatalf("chromium: %s: %v", method, err)
		}
		var answer struct {
			ID     int
			Result json.RawMessage
			Error  *struct{ Message string }
		}
		if err := json.Unmarshal(bytes.TrimSuffix(line, []byte{0}), &answer); err != nil || answer.ID != b.next {
			continue
		}
		if answer.Error != nil {
			b.t.Fatalf("chromium: %s: %s", method, answer.Error.Message)
		}
		if result != nil {
			if err := json.Unmarshal(answer.Result, result); err != nil {
				b.t.Fatalf("chromium: %s: %v", method, err)
			}
		}
		return
	}
}

// open loads url in the page and waits for it to have loaded.
func (b *browser) open(url string) {
	b.t.Helper()
	b.call(b.session, "Page.navigate", map[string]any{"url": url}, nil)
	b.waitFor("document.readyState === 'complete'", 10*time.Second)
}

// eval evaluates a JavaScript expression in the page and decodes its value into v.
func (b *browser) eval(expr string, v any) {
	b.t.Helper()
	var r struct {
		Result           struct{ Value json.RawMessage }
		ExceptionDetails *struct{ Text string }
	}
	b.call(b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if r.ExceptionDetails != nil {
		b.t.Fatalf("%s: %s", expr, r.ExceptionDetails.Text)
	}
	if v != nil {
		if err := json.Unmarshal(r.Result.Value, v); err != nil {
			b.t.Fatalf("%s = %s: %v", expr, r.Result.Value, err)
		}
	}
}

// waitFor waits until a JavaScript expression is true in the page.
func (b *browser) waitFor(expr string, limit time.Duration) {
	b.t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(50 * time.Millisecond) {
		var ok bool
		b.eval("!!("+expr+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var html string
			b.eval("document.body ? document.body.innerText.slice(0, 2000) : ''", &html)
			b.t.Fatalf("waited %s for %s; the page shows:\n%s", limit, expr, html)
		}
	}
}

// screenshot writes the page, its full height up to 2,400 pixels, as a small PNG (256
// colours) at docs/name when -update-screenshots is given.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if !*updateScreenshots {
		return
	}
	var height int
	b.eval("Math.min(2400, document.documentElement.scrollHeight)", &height)
	var shot struct{ Data string }
	b.call(b.session, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": 1200, "height": height, "scale": 1}}, &shot)
	raw, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		b.t.Fatal(err)
	}
	small := image.NewPaletted(img.Bounds(), palette.WebSafe)
	draw.Draw(small, img.Bounds(), img, image.Point{}, draw.Src)
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, small); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", name), out.Bytes(), 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// noReload marks the page; marked() says whether it is still the same page.
const noReload = "window.__notReloaded = true"

// TestServeInChromium opens runner serve's pages in headless Chromium over a store with
// finished runs and one live run that the test writes while the pages are open: the runs
// table shows every run; the live run's step count and its loss curve grow without a
// reload, and so does the grid of a samples.npz written meanwhile; a run page shows its
// samples picture; the compare page shows runner report diff's verdicts word for word.
func TestServeInChromium(t *testing.T) {
	b := startBrowser(t)
	dir := t.TempDir()
	db := twoGroupStore(t, dir)
	w, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	live, err := w.CreateRun(results.NewRun{Spec: "live", SpecFile: "live.toml", Hash: "live0", GroupHash: "live",
		Seed: 0, Params: map[string]string{"train.steps": "1000", "schedule.name": "cosine"}})
	if err != nil {
		t.Fatal(err)
	}
	logged := 0
	logSteps := func(to int) {
		mw := w.Metrics(live, 100)
		for ; logged < to; logged++ {
			mw.Add("loss", logged+1, 0.05+1/float64(logged+1))
			mw.Add("mse", logged+1, 0.04+0.9/float64(logged+1))
		}
		if err := mw.Flush(); err != nil {
			t.Fatal(err)
		}
		w.Heartbeat(live)
	}
	logSteps(20)

	url, _ := startServe(t, serveOptions{dbs: []string{db}, poll: 200 * time.Millisecond})
	b.open(url + "/")
	b.waitFor("document.querySelectorAll('#runs tbody tr').length === 7", 10*time.Second)
	var rows [][]string
	b.eval(`[...document.querySelectorAll('#runs tbody tr')].map(tr => [tr.dataset.id, tr.dataset.status, tr.cells[1].textContent, tr.cells[5].textContent])`, &rows)
	statuses := map[string]int{}
	for _, r := range rows {
		statuses[r[1]]++
	}
	if statuses["finished"] != 6 || statuses["running"] != 1 {
		t.Errorf("runs table rows %v; want 6 finished and the live run", rows)
	}
	liveRow := fmt.Sprintf(`document.querySelector('#runs tbody tr[data-id="%d"]')`, live)
	var progress string
	b.eval(liveRow+".cells[5].textContent", &progress)
	if progress != "20 / 1000" {
		t.Errorf("the live run's progress reads %q, want 20 / 1000", progress)
	}
	b.screenshot("serve-runs.png")
	b.eval(noReload, nil)
	logSteps(60)
	b.waitFor(liveRow+".cells[5].textContent === '60 / 1000'", 10*time.Second)
	b.waitFor("window.__notReloaded", time.Second)

	b.open(fmt.Sprintf("%s/run/0/%d", url, live))
	b.waitFor("document.querySelector('#chart-0') && document.querySelector('#chart-0').dataset.points === '60'", 10*time.Second)
	var step string
	b.eval("document.querySelector('#head .step').textContent", &step)
	b.eval(noReload, nil)
	logSteps(150)
	b.waitFor("document.querySelector('#chart-0').dataset.points === '150' && document.querySelector('#head .step').textContent === '150'", 10*time.Second)
	b.waitFor("window.__notReloaded", time.Second)
	if step != "60" {
		t.Errorf("the live run's page first showed step %q, want 60", step)
	}
	// Samples written while the page is open (an evaluation during training writes a
	// samples.npz) appear in it, drawn from the file's bytes, without a reload.
	pix := make([]uint8, 30*8*8*3)
	for i := range pix {
		pix[i] = uint8((i/3%8)*32 + (i/24%8)*4*(i%3))
	}
	npz := filepath.Join(w.ArtifactRoot(), fmt.Sprint(live), results.SamplesNPZArtifact)
	must(t, os.MkdirAll(filepath.Dir(npz), 0o755))
	must(t, npy.WriteSamples(npz, pix, 30, 8, 8, 3))
	must(t, w.AddArtifact(live, results.SamplesNPZArtifact, npz))
	grid := `document.querySelector('#body .pictures figure[data-name="samples.npz"] img')`
	b.waitFor(grid+" && "+grid+".complete && "+grid+".naturalWidth === 10 * 57 + 1", 10*time.Second)
	b.waitFor("window.__notReloaded", time.Second)
	b.screenshot("serve-run.png")

	b.open(url + "/run/0/1")
	b.waitFor("document.querySelector('#body .pictures img') && document.querySelector('#body .pictures img').complete", 10*time.Second)
	var pic struct {
		Name  string
		Width int
	}
	b.eval(`({name: document.querySelector('#body .pictures figure').dataset.name, width: document.querySelector('#body .pictures img').naturalWidth})`, &pic)
	if pic.Name != results.SampleScatterArtifact || pic.Width < 100 {
		t.Errorf("run 1's page shows picture %q %d pixels wide, want its %s", pic.Name, pic.Width, results.SampleScatterArtifact)
	}

	hs := groupHashes(t, db)
	code, out, errOut := runCLI(t, "report", "diff", "--db", db, hs[0], hs[1])
	want := verdictRows(out)
	if code != 0 || len(want) == 0 {
		t.Fatalf("report diff: %d %s %s", code, out, errOut)
	}
	b.open(url + "/compare?db=0&spec=quick&a=" + hs[0] + "&b=" + hs[1])
	var got [][2]string
	b.eval(`[...document.querySelectorAll('#diff tr')].slice(1).map(tr => [tr.cells[0].textContent, tr.cells[1].textContent])`, &got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the compare page's verdicts:\n%q\nrunner report diff's:\n%q", got, want)
	}
	fits(t, b, "the compare page")
	b.screenshot("serve-compare.png")
}

// fits checks that nothing on the page is wider than the page.
func fits(t *testing.T, b *browser, what string) {
	t.Helper()
	var w struct{ Scroll, Client int }
	b.eval("({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth})", &w)
	if w.Scroll > w.Client {
		t.Errorf("%s is %d pixels wide in a %d pixel window", what, w.Scroll, w.Client)
	}
}

// TestReportInChromium looks at runner report's HTML page of quick_2d with three seeds and
// of a comparison of two groups: no table wider than the page, no chart of a single group's
// summaries, every figure inside the page, its legend beside it as text; and at the runs
// view's page, runner serve's runs page as a file.
func TestReportInChromium(t *testing.T) {
	b := startBrowser(t)
	dir := t.TempDir()
	quick := filepath.Join(dir, "quick.db")
	if code, _, errOut := runCLI(t, "run", "-q", filepath.Join("..", "experiments", "quick_2d.toml"), "--db", quick, "--set", "seeds=[0, 1, 2]"); code != 0 {
		t.Fatalf("run quick_2d: %d %s", code, errOut)
	}
	two := twoGroupStore(t, dir)
	for _, tc := range []struct {
		db, shot string
		figures  int // loss, bound, schedules; and a chart per ranked metric across two groups
		runs     int
	}{{quick, "report-quick_2d.png", 3, 3}, {two, "report-two-groups.png", 3 + 1, 6}} {
		html := filepath.Join(dir, strings.TrimSuffix(tc.shot, ".png")+".html")
		if code, _, errOut := runCLI(t, "report", "--db", tc.db, "--format", "html", "--out", html); code != 0 {
			t.Fatalf("report: %d %s", code, errOut)
		}
		b.open("file://" + html)
		fits(t, b, tc.shot)
		var figs []string
		b.eval(`[...document.querySelectorAll('.fig img')].map(i => i.alt)`, &figs)
		var charts []string
		for _, f := range figs {
			if !strings.HasPrefix(f, "run ") && f != results.SampleScatterArtifact {
				charts = append(charts, f)
			}
		}
		if tc.figures == 3 && len(charts) != 3 {
			t.Errorf("%s: figures %q, want the loss curves, the bound and the schedules only", tc.shot, charts)
		}
		if tc.figures > 3 && len(charts) <= 3 {
			t.Errorf("%s: figures %q, want the metrics compared across the two groups too", tc.shot, charts)
		}
		var legends int
		b.eval("document.querySelectorAll('figcaption .key').length", &legends)
		if legends < 3 {
			t.Errorf("%s: %d legend entries under the figures, want at least 3", tc.shot, legends)
		}
		// Each run is a section drawn by runner serve's run page, its picture in the page.
		var sections struct{ Sections, Pictures, Links int }
		b.eval(`({sections: document.querySelectorAll('section.run').length,
			pictures: [...document.querySelectorAll('section.run .pictures img')].filter(i => i.complete && i.naturalWidth > 100).length,
			links: [...document.querySelectorAll('table.runlist a')].filter(a => document.querySelector(a.getAttribute('href'))).length})`, &sections)
		if sections.Sections != tc.runs || sections.Pictures != tc.runs || sections.Links != tc.runs {
			t.Errorf("%s: %+v, want a section with its picture, linked from the list, for each of %d runs", tc.shot, sections, tc.runs)
		}
		b.screenshot(tc.shot)
	}
	// The runs view is runner serve's runs page, as a file.
	runsHTML := filepath.Join(dir, "runs.html")
	if code, _, errOut := runCLI(t, "report", "--db", two, "--view", "runs", "--format", "html", "--out", runsHTML); code != 0 {
		t.Fatalf("report --view runs: %d %s", code, errOut)
	}
	b.open("file://" + runsHTML)
	b.waitFor("document.querySelectorAll('#runs tbody tr[data-status=finished]').length === 6", 5*time.Second)
	fits(t, b, "the runs view")
}
