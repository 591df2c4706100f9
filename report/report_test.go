package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"
	"github.com/ddpm-runner/ddpm-runner/results"
)

func TestSummarizeStudentT(t *testing.T) {
	s := Summarize([]float64{1, 2, 3})
	// t_{0.975, 2} = 4.302652729911275; s = 1; half-width = t / sqrt(3).
	want := 4.302652729911275 / math.Sqrt(3)
	if s.Mean != 2 || math.Abs(s.Std-1) > 1e-12 || math.Abs(s.CI95-want) > 1e-9 {
		t.Errorf("got mean %g std %g ci %g, want 2, 1, %g", s.Mean, s.Std, s.CI95, want)
	}
	one := Summarize([]float64{5})
	if one.Mean != 5 || !math.IsNaN(one.CI95) {
		t.Errorf("one value: %+v", one)
	}
}

func run(id int64, group, sched string, seed int, status string, fid, is float64) *results.Run {
	return &results.Run{ID: id, Spec: "s", GroupHash: group, Seed: seed, Status: status,
		Params:    map[string]string{"schedule.name": sched, "seed": string(rune('0' + seed)), "train.lr": "0.001"},
		Summaries: map[string]float64{"fid": fid, "is": is}}
}

func TestGroupRunsAndBest(t *testing.T) {
	runs := []*results.Run{
		run(1, "a", "linear", 0, "finished", 10, 3),
		run(2, "a", "linear", 1, "finished", 12, 3.2),
		run(3, "b", "cosine", 0, "finished", 8, 2.5),
		run(4, "b", "cosine", 1, "diverged", 0, 0),
		run(5, "b", "cosine", 2, "finished", 9, 2.7),
	}
	groups := GroupRuns(runs)
	if len(groups) != 2 {
		t.Fatalf("%d groups", len(groups))
	}
	a, b := groups[0], groups[1]
	if a.Label != "schedule.name=linear" || b.Label != "schedule.name=cosine" {
		t.Errorf("labels %q %q: want only the differing param", a.Label, b.Label)
	}
	if b.Status["diverged"] != 1 || b.Stats["fid"].N != 2 || b.Stats["fid"].Mean != 8.5 {
		t.Errorf("group b: status %v, fid %+v (the diverged run must not count)", b.Status, b.Stats["fid"])
	}
	if !b.Stats["fid"].Best || a.Stats["fid"].Best {
		t.Error("lower fid should be best")
	}
	if !a.Stats["is"].Best || b.Stats["is"].Best {
		t.Error("higher is should be best")
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, groups); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "**8.5 ± ") || !strings.Contains(md.String(), "1 diverged") {
		t.Errorf("markdown:\n%s", md.String())
	}
	var plain bytes.Buffer
	if err := WriteTable(&plain, groups, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("escape codes without colour")
	}
}

// recordRun records a finished run with a loss history and the process its schedule made.
func recordRun(t *testing.T, st *results.Store, params map[string]string, alphaBar []float64) {
	t.Helper()
	id, err := st.CreateRun(results.NewRun{Spec: "s", Hash: fmt.Sprint(params), GroupHash: fmt.Sprint(params), Params: params})
	if err != nil {
		t.Fatal(err)
	}
	mw := st.Metrics(id, 16)
	for step := 1; step <= 5; step++ {
		if err := mw.Add("loss", step, 1/float64(step)); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Flush(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(results.ProcessRecord{AlphaBar: alphaBar})
	dir := filepath.Join(st.ArtifactRoot(), fmt.Sprint(id))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, results.ProcessArtifact)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := st.AddArtifact(id, results.ProcessArtifact, path); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSummaries(id, map[string]float64{"final_loss": alphaBar[0]}); err != nil {
		t.Fatal(err)
	}
	if err := st.EndRun(id, results.StatusFinished, ""); err != nil {
		t.Fatal(err)
	}
}

// TestHTMLDrawsLossesAndEachDistinctSchedule: the page of a real store has the loss curves and
// the schedule figure, and two cosine schedules that differ only in s are two curves, while
// two groups that share a schedule (differing in the learning rate) are one.
func TestHTMLDrawsLossesAndEachDistinctSchedule(t *testing.T) {
	st, err := results.Open(filepath.Join(t.TempDir(), "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cosine := func(s, lr string) map[string]string {
		return map[string]string{"schedule.name": "cosine", "schedule.T": "3", "schedule.s": s, "train.lr": lr}
	}
	recordRun(t, st, cosine("0.008", "0.001"), []float64{0.9, 0.5, 0.1})
	recordRun(t, st, cosine("0.008", "0.002"), []float64{0.9, 0.5, 0.1})
	recordRun(t, st, cosine("0.1", "0.001"), []float64{0.8, 0.4, 0.05})
	runs, err := st.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	in := HTMLInput{Groups: GroupRuns(runs), Store: st}
	curves := scheduleCurves(in, &Artifacts{Store: st})
	if len(curves) != 2 {
		t.Fatalf("%d schedule curves, want 2: %+v", len(curves), curves)
	}
	labels := curves[0].Label + " | " + curves[1].Label
	if !strings.Contains(labels, "s=0.008") || !strings.Contains(labels, "s=0.1") {
		t.Errorf("labels %q do not tell the two schedules apart", labels)
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, in); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`alt="loss curves"`, `alt="schedules"`, `alt="final_loss"`, "schedule.s=0.1"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("html lacks %s", want)
		}
	}
}
