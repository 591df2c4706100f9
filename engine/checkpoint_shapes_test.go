package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// A checkpoint's metadata is checked against the network before the loader allocates what it
// states: a checkpoint edited to say [100000, 1000000] made `sample` die out of memory and
// left its run `running`. Each edit is refused naming the checkpoint, and no run is recorded.
func TestSampleChecksCheckpointShapes(t *testing.T) {
	h := newHarness(t)
	parentOut := h.run(h.jobs(tiny, "train.steps=5")[0])
	if parentOut.Status != results.StatusFinished {
		t.Fatalf("parent: %s %v", parentOut.Status, parentOut.Err)
	}
	parent, err := h.store.Run(parentOut.RunID)
	if err != nil {
		t.Fatal(err)
	}
	metas, _ := filepath.Glob(filepath.Join(h.store.ArtifactRoot(), fmt.Sprint(parent.ID), "checkpoint", "checkpoint-*.json"))
	if len(metas) == 0 {
		t.Fatal("the parent has no checkpoint")
	}
	meta := metas[len(metas)-1]
	original, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	type variable struct {
		ParameterName string
		Dimensions    []int
		DType         string
		Pos, Length   int64
	}
	sample := func() engine.Outcome {
		trials, err := spec.SampleTrials(parent.Resolved, "", nil, []string{"sample.n=4"})
		if err != nil {
			t.Fatal(err)
		}
		job, err := engine.Prepare(trials[0])
		if err != nil {
			t.Fatal(err)
		}
		return engine.SampleFrom(context.Background(), job, parent, engine.Options{Store: h.store})
	}
	first := "var:/model/layer0/weights"
	for _, tc := range []struct {
		name string
		edit func(vars []variable) []variable
		want string // "" for a sample that finishes
	}{
		{"as written", func(v []variable) []variable { return v }, ""},
		{"[100000, 1000000] with its length", func(v []variable) []variable {
			for i := range v {
				if v[i].ParameterName == first {
					v[i].Dimensions, v[i].Length = []int{100000, 1000000}, 4*100000*1000000
				}
			}
			return v
		}, "can hold"},
		{"[100000, 1000000] alone", func(v []variable) []variable {
			for i := range v {
				if v[i].ParameterName == first {
					v[i].Dimensions = []int{100000, 1000000}
				}
			}
			return v
		}, "while its shape takes 400000000000 bytes"},
		{"negative", func(v []variable) []variable {
			for i := range v {
				if v[i].ParameterName == first {
					v[i].Dimensions = []int{-4, 16}
				}
			}
			return v
		}, "the shape is negative"},
		{"unknown dtype", func(v []variable) []variable { v[0].DType = "Complex128"; return v }, "dtype Complex128"},
		{"an extra weight", func(v []variable) []variable {
			last := v[len(v)-1]
			return append(v, variable{"var:/model/extra", []int{4}, "Float32", last.Pos + last.Length, 16})
		}, "this run's [network] mlp has"},
		{"a large non-weight", func(v []variable) []variable {
			last := v[len(v)-1]
			return append(v, variable{"var:/AdamOptimizer/extra", []int{5000}, "Float32", last.Pos + last.Length, 20000})
		}, "no network weight has this shape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc map[string]json.RawMessage
			if err := json.Unmarshal(original, &doc); err != nil {
				t.Fatal(err)
			}
			var vars []variable
			if err := json.Unmarshal(doc["Variables"], &vars); err != nil {
				t.Fatal(err)
			}
			doc["Variables"], _ = json.Marshal(tc.edit(vars))
			edited, _ := json.Marshal(doc)
			if err := os.WriteFile(meta, edited, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.WriteFile(meta, original, 0o644) })
			before, _ := h.store.Runs(results.Filter{})
			out := sample()
			after, _ := h.store.Runs(results.Filter{})
			if tc.want == "" {
				if out.Status != results.StatusFinished {
					t.Fatalf("%s: %v", out.Status, out.Err)
				}
				return
			}
			if out.Err == nil || !strings.Contains(out.Err.Error(), tc.want) || !strings.Contains(out.Err.Error(), meta) {
				t.Errorf("%s: %v; want an error naming %s and saying %q", out.Status, out.Err, meta, tc.want)
			}
			if len(after) != len(before) {
				t.Errorf("a refused sample recorded a run (%d runs, were %d)", len(after), len(before))
			}
		})
	}
}
