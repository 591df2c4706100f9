package report

import (
	"bytes"
	"math"
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
	var html bytes.Buffer
	if err := WriteHTML(&html, HTMLInput{Groups: groups}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), "<img src=\"data:image/png;base64,") || !strings.Contains(html.String(), "schedule.name=cosine") {
		t.Error("html lacks the figures or the groups")
	}
}
