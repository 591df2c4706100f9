package spec_test

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// TestShippedSpecHashesUnchanged pins the trial hashes and the canonical (recorded) form of
// every shipped spec: a database written by an earlier runner finds its runs again (rerun,
// resume, --add-seeds) only while these stay the same. The values were computed before the
// settings became typed structs; a change here breaks old databases and needs a migration.
func TestShippedSpecHashesUnchanged(t *testing.T) {
	want := map[string]struct {
		trials          int
		first, group    string
		canonicalDigest string
	}{
		"ablation_ddpm.toml":   {24, "aecddbee7c863c7f", "b31ae57fceade052", "6b213a63b18145b8"},
		"cosine_beta.toml":     {1, "ba70a1734a192923", "2dc479b3505f7895", "b930a28ae52f2a22"}, // 10000 steps since issue 30 (7500 before: c33a480633bb1c35)
		"crosscheck_unet.toml": {1, "b7939bc67fe830bc", "c8e36b2550679603", "7112dbb869d21ac6"},
		"ddpm_cifar10.toml":    {1, "f6d3c165c04e6e89", "9acbdfa5ca09d437", "94e5643c4d077a7c"},
		"gaussian_vlb.toml":    {1, "6f4591d8b41b973f", "929b940ca32bc9d6", "25c3b3e0701fb18e"},
		"iddpm_cifar10.toml":   {1, "54781957703aed8e", "46fef530c3e72118", "726ffbd3abb3d655"},
		"iddpm_hybrid.toml":    {18, "4b56faa01ce43994", "9398a84284a768e9", "dd2214ad6dc63fa1"},
		"linear_beta.toml":     {1, "89737a6cb7e64458", "122c76147bd4384f", "e618c80935e63484"}, // 10000 steps since issue 30 (7500 before: df28e1472160ef87)
		"linear_beta_28.toml":  {1, "b4f389cf7928d9d4", "a60719f447782e97", "3159532e280ee676"}, // issue 30: the 28x28 candidate for the main job
		"mnist_cfg.toml":       {1, "dd78d43be393a055", "d5a03f8e1186f211", "ddb4b354349801ca"},
		"mnist_unet_gpu.toml":  {1, "c9079de9fa00b9fd", "018d417bc4ed22ec", "8973582f052b97ac"},
		"quick_2d.toml":        {1, "bf0442b49d5c8456", "b50a7fb7c3cc07b6", "327cfa19cc98300e"},
		"schedules_2d.toml":    {6, "0d2f21e323da4601", "0097a7b6b51f66c7", "e46d11e747f5f733"},
		"swissroll_2d.toml":    {1, "e6466058848600c6", "0c2896aff4977f24", "9e5f7a7e86e73ba8"},
	}
	files, err := filepath.Glob("../experiments/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped specs: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		trials, err := spec.Load(f, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sum := sha256.New()
		for _, tr := range trials {
			sum.Write([]byte(tr.Hash() + " " + tr.GroupHash() + " " + tr.Canonical() + "\n"))
		}
		got := struct {
			trials          int
			first, group    string
			canonicalDigest string
		}{len(trials), trials[0].Hash(), trials[0].GroupHash(), hex.EncodeToString(sum.Sum(nil))[:16]}
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: not pinned; add {%d, %q, %q, %q}", name, got.trials, got.first, got.group, got.canonicalDigest)
			continue
		}
		if got != w {
			t.Errorf("%s: got {%d, %q, %q, %q}, want %+v", name, got.trials, got.first, got.group, got.canonicalDigest, w)
		}
	}
}

// testSchedule is the schedule of the two test plugins below: one as a plugin is declared
// today, the other the same plugin after a release added a key declared OmitDefault.
type testSchedule struct{}

func (testSchedule) Betas(T int) ([]float64, error) { return make([]float64, T), nil }

func newTestSchedule(plugins.Values) (plugins.Schedule, error) { return testSchedule{}, nil }

func init() {
	width := plugins.Param{Name: "width", Type: plugins.Float, Default: 0.5, Doc: "a key every version has"}
	plugins.Register(plugins.Plugin{Kind: plugins.KindSchedule, Name: "omit_before", New: newTestSchedule,
		Params: []plugins.Param{width}})
	plugins.Register(plugins.Plugin{Kind: plugins.KindSchedule, Name: "omit_after", New: newTestSchedule,
		Params: []plugins.Param{width, {Name: "tilt", Type: plugins.Float, Default: 0.0, OmitDefault: true, Doc: "a key added later"}}})
}

// TestOmitDefaultKeepsHashes: a key declared OmitDefault is not in the canonical form (nor
// the hash) while it holds its default, so adding one keeps every recorded trial's hash; set
// to another value it is recorded, and a stored form without it resolves to its default.
func TestOmitDefaultKeepsHashes(t *testing.T) {
	load := func(name string, sets ...string) *spec.Trial {
		t.Helper()
		trials, err := spec.Parse("s.toml", []byte("[schedule]\nname = \""+name+"\"\n"), sets)
		if err != nil {
			t.Fatal(err)
		}
		return trials[0]
	}
	before, after := load("omit_before"), load("omit_after")
	if got, want := after.Canonical(), strings.Replace(before.Canonical(), "omit_before", "omit_after", 1); got != want {
		t.Errorf("a key at its default changes the canonical form:\n%s\nwant\n%s", got, want)
	}
	if v, ok := after.Section("schedule").Params["tilt"]; !ok || v != 0.0 {
		t.Errorf("the trial itself lost the key: %v, %v", v, ok)
	}
	back, err := spec.FromCanonical(after.Canonical())
	if err != nil || back.Hash() != after.Hash() || back.Section("schedule").Params["tilt"] != 0.0 {
		t.Errorf("round trip: %v; hash %s want %s; tilt %v", err, back.Hash(), after.Hash(), back.Section("schedule").Params["tilt"])
	}
	tilted := load("omit_after", "schedule.tilt=0.25")
	if !strings.Contains(tilted.Canonical(), `"tilt":0.25`) || tilted.Hash() == after.Hash() {
		t.Errorf("a key off its default is not recorded: %s", tilted.Canonical())
	}
}
