package report

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// recordDuring records a finished run of group params with key's values at steps 10, 20,
// 30 (and a loss history, which is not a value evaluated during training).
func recordDuring(t *testing.T, st *results.Store, params map[string]string, key string, vals []float64) {
	t.Helper()
	id, err := st.CreateRun(results.NewRun{Spec: "s", Hash: fmt.Sprint(params), GroupHash: fmt.Sprint(params), Params: params})
	if err != nil {
		t.Fatal(err)
	}
	mw := st.Metrics(id, 64)
	for i, v := range vals {
		if err := mw.Add(key, 10*(i+1), v); err != nil {
			t.Fatal(err)
		}
		if err := mw.Add("loss", 10*(i+1), 1/v); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := st.EndRun(id, results.StatusFinished, ""); err != nil {
		t.Fatal(err)
	}
}

// TestReportNamesTheBestStepDuringTraining: each value evaluated during training is drawn
// against step, and its best step (lower FID, higher IS, of the mean over seeds) is named in
// the terminal, Markdown and HTML outputs.
func TestReportNamesTheBestStepDuringTraining(t *testing.T) {
	st, err := results.Open(filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := map[string]string{"train.lr": "0.001"}
	b := map[string]string{"train.lr": "0.002"}
	// Seed means 5, 3.25, 4.25: the best FID is at step 20, though one seed has 3.2 at 30.
	recordDuring(t, st, a, "fid", []float64{5, 3, 5.3})
	recordDuring(t, st, a, "fid", []float64{5, 3.5, 3.2})
	recordDuring(t, st, b, "is", []float64{2, 5, 5}) // higher is better; a tie keeps step 20
	runs, err := st.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	groups := GroupRuns(runs)
	curves, err := DuringCurves(groups, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(curves) != 2 {
		t.Fatalf("%d curves, want fid of one group and is of the other: %+v", len(curves), curves)
	}
	for i, want := range []struct {
		key  string
		step int
		best float64
	}{{"fid", 20, 3.25}, {"is", 20, 5}} {
		c := curves[i]
		if c.Key != want.key || c.BestStep != want.step || c.Best != want.best || len(c.Steps) != 3 {
			t.Errorf("curve %d: %s best %v at step %d over steps %v, want %s best %v at step %d", i, c.Key, c.Best, c.BestStep, c.Steps, want.key, want.best, want.step)
		}
	}
	var text, md, page bytes.Buffer
	if err := WriteDuring(&text, curves, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteDuring(&md, curves, true); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&page, HTMLInput{Groups: groups, Store: st}); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "markdown": md.String(), "html": page.String()} {
		for _, want := range []string{"fid during training, train.lr=0.001: best at step 20 (3.25)", "is during training, train.lr=0.002: best at step 20 (5)"} {
			if name == "markdown" {
				want = MarkdownText(want)
			}
			if !strings.Contains(out, want) {
				t.Errorf("%s output lacks %q:\n%s", name, want, out)
			}
		}
	}
	for _, want := range []string{`alt="fid during training"`, `alt="is during training"`} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("html lacks the figure %s", want)
		}
	}
	if strings.Contains(page.String(), `alt="loss during training"`) {
		t.Error("the loss is drawn as a value evaluated during training")
	}
	var none bytes.Buffer
	if err := WriteDuring(&none, nil, false); err != nil || none.Len() != 0 {
		t.Errorf("no evaluation during training writes %q", none.String())
	}
}
