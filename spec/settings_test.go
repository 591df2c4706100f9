package spec_test

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// TestSettingsAreTheResolvedTables: the typed settings of every trial of every shipped spec
// (and of one rebuilt from its canonical form, as rerun and resume do) hold exactly the
// resolved values of their tables.
func TestSettingsAreTheResolvedTables(t *testing.T) {
	files, err := filepath.Glob("../experiments/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped specs: %v", err)
	}
	for _, f := range files {
		trials, err := spec.Load(f, []string{"train.ema=[0.9, 0.99]"})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		back, err := spec.FromCanonical(trials[0].Canonical())
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tr := range append(trials, back) {
			s := reflect.ValueOf(tr.Settings)
			for table, field := range map[string]string{"train": "Train", "eval": "Eval", "schedule": "Schedule", "loss": "Loss", "sample": "Sample"} {
				checkFields(t, f+" ["+table+"]", s.FieldByName(field), tr.Section(table).Params)
			}
		}
	}
}

// checkFields checks that every tagged field of the struct v holds the value of its key in
// vals (CheckSettings, at start-up, holds every declared key to a field).
func checkFields(t *testing.T, where string, v reflect.Value, vals plugins.Values) {
	t.Helper()
	if !v.IsValid() || v.NumField() == 0 {
		t.Fatalf("%s: no settings", where)
	}
	for i := range v.NumField() {
		key := v.Type().Field(i).Tag.Get("param")
		want, ok := vals[key]
		if !ok {
			t.Errorf("%s: field %s is tagged %q, which the table lacks", where, v.Type().Field(i).Name, key)
			continue
		}
		got := v.Field(i).Interface()
		if f, ok := want.(float64); ok && v.Field(i).Kind() == reflect.Slice {
			want = []float64{f}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %s = %v, the table has %v", where, key, got, want)
		}
	}
}

// TestSectionOrder: the order of the tables comes from the registry's kinds with [train] and
// [eval] in their places, and is the order specs are written in.
func TestSectionOrder(t *testing.T) {
	want := []string{"data", "schedule", "predictor", "loss", "network", "train", "sample", "eval"}
	if got := spec.SectionOrder(); !slices.Equal(got, want) {
		t.Errorf("SectionOrder() = %v, want %v", got, want)
	}
}
