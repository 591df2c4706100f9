package spec_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/spec"
)

// Seed corpus: the shipped specs, and the kinds of bad input the CLI tests use.
var badSpecs = []string{
	"name = \"x\"\n[train]\nsteps = = 1\n",
	"[trian]\nsteps = 1\n",
	"name = \"x\"\n[schedule]\nname = \"linear\"\nlr = 1\n",
	"[train]\nsteps = \"many\"\n",
	"[schedule]\nT = 0\n",
	"[schedule]\nname = \"linear\"\nbeta_end = 1.5\n",
	"[schedule]\nname = \"cosin\"\n",
	"[sweep]\n\"loss.name\" = []\n",
	"[sweep]\n\"schedule.foo\" = [1, 2]\n",
	"seeds = [1, 2, 1]\n",
	"backend = \"tpu\"\n",
	"train = 5\n",
	"[train]\nbatch = 9223372036854775807\n",
	"seeds = [-1]\n[sweep]\n\"train.lr\" = [1e-3, 2e-3]\n\"train.batch\" = [1, 2, 3]\n",
	"[network]\nhidden = []\n",
	"[eval]\nmetrics = [\"nll\", 3]\n",
	"[data]\nname = \"mnist\"\ndigits = [11]\n",
}

var setSeeds = []string{"train.steps=200", "seeds=[0,1,2]", "schedule.name=cosine", "train=5", "trian.steps=1",
	"a.b.c=1", "=1", "sweep.x=[1]", "train.lr=abc", "network.hidden=[1,", "seeds=[]", `data.name="moons"`}

func addSeeds(f *testing.F) {
	shipped, _ := filepath.Glob(filepath.Join("..", "experiments", "*.toml"))
	for _, p := range shipped {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	for i, s := range badSpecs {
		f.Add([]byte(s), setSeeds[i%len(setSeeds)])
	}
	for _, s := range setSeeds {
		f.Add([]byte(base), s)
	}
}

// checkSpecError is what every rejected spec must give: a spec error (exit 2 in the CLI)
// that names the file, or the --set flag when the value came from one.
func checkSpecError(t *testing.T, err error, set string) {
	if !spec.IsSpecError(err) {
		t.Fatalf("error is not a spec error (it would not exit 2): %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "fuzz.toml") && !(set != "" && strings.Contains(msg, "--set")) {
		t.Fatalf("error names neither the file nor the flag: %v", msg)
	}
}

// FuzzParse feeds the spec loader arbitrary text with one --set: it must never panic, and
// every error must be a spec error naming the file or the flag.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		var sets []string
		if set != "" {
			sets = []string{set}
		}
		trials, err := spec.Parse("fuzz.toml", data, sets)
		if err != nil {
			checkSpecError(t, err, set)
			return
		}
		if len(trials) == 0 || len(trials) > spec.MaxTrials {
			t.Fatalf("%d trials", len(trials))
		}
		for _, tr := range trials[:min(len(trials), 3)] {
			// Canonical form round-trips: what a run records is enough to run it again.
			back, err := spec.FromCanonical(tr.Canonical())
			if err != nil {
				t.Fatalf("canonical form does not load back: %v", err)
			}
			if back.Hash() != tr.Hash() {
				t.Fatalf("hash changed through the canonical form: %s vs %s", back.Hash(), tr.Hash())
			}
		}
	})
}

// FuzzSet fuzzes the --set parser on a valid spec: any flag value is accepted or rejected
// with a spec error naming the flag, never a panic.
func FuzzSet(f *testing.F) {
	for _, s := range setSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, set string) {
		_, err := spec.Parse("fuzz.toml", []byte(base), []string{set})
		if err != nil {
			checkSpecError(t, err, set)
			if !strings.Contains(err.Error(), "--set") {
				t.Fatalf("an error caused by --set %q does not name the flag: %v", set, err)
			}
		}
	})
}
