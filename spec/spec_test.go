package spec_test

import (
	"strings"
	"testing"

	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

const base = `name = "s"
seeds = [0, 1]
[schedule]
name = "linear"
T = 100
[train]
steps = 10
`

func TestDefaultsFilled(t *testing.T) {
	trials, err := spec.Parse("s.toml", []byte(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := trials[0]
	if tr.Section("predictor").Name != "eps" || tr.Section("predictor").Params.String("variance") != "fixed_large" {
		t.Errorf("predictor defaults: %+v", tr.Section("predictor"))
	}
	if st := tr.Settings; st.Train.LR != 2e-4 || st.Train.Steps != 10 || st.Schedule.T != 100 {
		t.Errorf("train %+v schedule %+v", st.Train, st.Schedule)
	}
	if tr.Section("schedule").Params.Float("beta_end") != 0.02 {
		t.Errorf("schedule params %v", tr.Section("schedule").Params)
	}
}

func TestSeedsShareGroupHashAndSettingsChangeIt(t *testing.T) {
	trials, err := spec.Parse("s.toml", []byte(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := trials[0], trials[1]
	if a.GroupHash() != b.GroupHash() {
		t.Error("seeds of one setting have different group hashes")
	}
	if a.Hash() == b.Hash() {
		t.Error("two seeds share a hash")
	}
	other, _ := spec.Parse("other.toml", []byte(strings.Replace(base, `name = "s"`, `name = "renamed"`, 1)), nil)
	if other[0].Hash() != a.Hash() {
		t.Error("renaming the spec changed the settings hash")
	}
	changed, _ := spec.Parse("s.toml", []byte(base), []string{"train.lr=0.001"})
	if changed[0].GroupHash() == a.GroupHash() {
		t.Error("a different lr kept the group hash")
	}
	// Writing a default explicitly must not change the hash: the canonical form has defaults.
	explicit, _ := spec.Parse("s.toml", []byte(base+"lr = 0.0002\n"), nil)
	if explicit[0].Hash() != a.Hash() {
		t.Error("spelling out a default changed the hash")
	}
}

func TestCanonicalRoundTrip(t *testing.T) {
	trials, err := spec.Parse("s.toml", []byte(base+"[sweep]\n\"loss.name\" = [\"hybrid\"]\n"), []string{"network.hidden=[8, 8]"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := spec.FromCanonical(trials[1].Canonical())
	if err != nil {
		t.Fatal(err)
	}
	if back.Canonical() != trials[1].Canonical() || back.Hash() != trials[1].Hash() {
		t.Errorf("round trip changed the trial:\n%s\n%s", trials[1].Canonical(), back.Canonical())
	}
}

func TestSweepCartesianProduct(t *testing.T) {
	text := base + `[sweep]
"schedule.name" = ["linear", "cosine", "quadratic"]
"predictor.variance" = ["fixed_small", "learned_range"]
`
	trials, err := spec.Parse("s.toml", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 3*2*2 {
		t.Fatalf("%d trials, want 12", len(trials))
	}
	seen := map[string]bool{}
	for _, tr := range trials {
		seen[tr.GroupHash()] = true
	}
	if len(seen) != 6 {
		t.Errorf("%d distinct groups, want 6", len(seen))
	}
}

func TestSetIsTypedPerParameter(t *testing.T) {
	trials, err := spec.Parse("s.toml", []byte(base), []string{"schedule.name=cosine", "schedule.T=4000",
		"train.lr=1e-3", "sample.clip_denoised=false", "seeds=[5]"})
	if err != nil {
		t.Fatal(err)
	}
	tr := trials[0]
	if len(trials) != 1 || tr.Seed != 5 || tr.Section("schedule").Name != "cosine" || tr.Settings.Schedule.T != 4000 ||
		tr.Settings.Train.LR != 1e-3 || tr.Settings.Sample.ClipDenoised || tr.Section("sample").Params.Bool("clip_denoised") {
		t.Errorf("overrides not applied: %s", tr.Canonical())
	}
	// cosine takes s and max_beta, not beta_end: the linear keys left in the file are an error.
	if _, err := spec.Parse("s.toml", []byte(base+"[schedule]\n"), nil); err == nil {
		t.Error("a table defined twice was accepted")
	}
}

// A network's layer count is bounded by its declaration (MaxLen): each layer costs graph
// memory that the estimate does not count per layer, so 10,000 narrow layers passed the
// estimate and then ran out of memory.
func TestLayerCountsAreBounded(t *testing.T) {
	layers := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat("4, ", n), ", ") + "]" }
	for _, tc := range []struct {
		name, network string
		want          string // "" for accepted
	}{
		{"mlp at the limit", "name = \"mlp\"\nhidden = " + layers(64), ""},
		{"mlp over the limit", "name = \"mlp\"\nhidden = " + layers(65), `s.toml:10: key "hidden" in [network]: want at most 64 elements, got 65`},
		{"mlp 10000 layers", "name = \"mlp\"\nhidden = " + layers(10000), "want at most 64 elements, got 10000"},
		{"unet at the limit", "name = \"unet\"\nmults = " + layers(8), ""},
		{"unet over the limit", "name = \"unet\"\nmults = " + layers(9), `s.toml:10: key "mults" in [network]: want at most 8 elements, got 9`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.Parse("s.toml", []byte(base+"[network]\n"+tc.network+"\n"), nil)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	// A --set and a sweep meet the same bound.
	if _, err := spec.Parse("s.toml", []byte(base), []string{"network.hidden=" + layers(65)}); err == nil || !strings.Contains(err.Error(), "--set network.hidden=") {
		t.Errorf("--set: %v", err)
	}
	if _, err := spec.Parse("s.toml", []byte(base+"[sweep]\n\"network.hidden\" = [[4], "+layers(65)+"]\n"), nil); err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Errorf("sweep: %v", err)
	}
}
