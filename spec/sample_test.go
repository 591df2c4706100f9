package spec_test

import (
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/spec"
)

const sampleParent = `name = "parent"
seeds = [3]
[data]
name = "swissroll"
[schedule]
name = "linear"
T = 100
[network]
hidden = [16]
[train]
steps = 50
[sample]
name = "respaced"
steps = 40
n = 77
[eval]
metrics = ["frechet"]
n = 55
`

func parentCanonical(t *testing.T) (*spec.Trial, string) {
	t.Helper()
	trials, err := spec.Parse("parent.toml", []byte(sampleParent), nil)
	if err != nil {
		t.Fatal(err)
	}
	return trials[0], trials[0].Canonical()
}

func TestSampleTrialsChangeOnlySampling(t *testing.T) {
	parent, canon := parentCanonical(t)
	cases := []struct {
		name   string
		data   string
		sets   []string
		trials int
		check  func(t *testing.T, tr *spec.Trial)
	}{
		{"no change", "", nil, 1, func(t *testing.T, tr *spec.Trial) {
			if tr.Section("sample").Name != "respaced" || tr.Section("sample").Params.Int("steps") != 40 || tr.Seed != 3 {
				t.Errorf("sample %+v seed %d, want the parent's respaced 40, seed 3", tr.Section("sample"), tr.Seed)
			}
		}},
		{"steps only", "", []string{"sample.steps=10"}, 1, func(t *testing.T, tr *spec.Trial) {
			if tr.Section("sample").Name != "respaced" || tr.Section("sample").Params.Int("steps") != 10 {
				t.Errorf("sample %+v, want respaced with 10 steps", tr.Section("sample"))
			}
		}},
		{"another sampler", "", []string{"sample.name=ddim", "sample.steps=20", "eval.n=33"}, 1, func(t *testing.T, tr *spec.Trial) {
			s := tr.Section("sample")
			if s.Name != "ddim" || s.Params.Int("steps") != 20 || s.Params.Int("n") != 77 || s.Params.Float("eta") != 0 ||
				s.Params.String("spacing") != "linspace" || tr.Section("eval").Params.Int("n") != 33 {
				t.Errorf("sample %+v eval %+v: want ddim, 20 steps, the parent's n = 77, eta 0, eval n 33", s, tr.Section("eval"))
			}
		}},
		{"sample spec with sweep and seeds", "seeds = [1, 2]\n[sample]\nname = \"heun\"\n[sweep]\n\"sample.steps\" = [5, 10]\n", nil, 4,
			func(t *testing.T, tr *spec.Trial) {
				if tr.Section("sample").Name != "heun" || tr.Seed == 3 {
					t.Errorf("sample %+v seed %d", tr.Section("sample"), tr.Seed)
				}
			}},
		{"sweep over samplers", "[sweep]\n\"sample.name\" = [\"euler\", \"dpmpp_2m\"]\n", nil, 2, func(t *testing.T, tr *spec.Trial) {
			if p := tr.Section("sample").Params; p.Int("steps") != 20 || p.Int("n") != 77 { // each sampler's default steps
				t.Errorf("sample %+v: want the sampler's default 20 steps and the parent's n", tr.Section("sample"))
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var data []byte
			if c.data != "" {
				data = []byte(c.data)
			}
			trials, err := spec.SampleTrials(canon, "s.toml", data, c.sets)
			if err != nil {
				t.Fatal(err)
			}
			if len(trials) != c.trials {
				t.Fatalf("%d trials, want %d", len(trials), c.trials)
			}
			for _, tr := range trials {
				if tr.Kind != spec.KindSample || tr.Hash() == parent.Hash() || tr.Params()["kind"] != "sample" {
					t.Errorf("kind %q, hash %s (parent %s)", tr.Kind, tr.Hash(), parent.Hash())
				}
				for _, sec := range []string{"data", "schedule", "network", "train", "predictor", "loss"} {
					if tr.Section(sec).Name != parent.Section(sec).Name || len(tr.Section(sec).Params) != len(parent.Section(sec).Params) {
						t.Errorf("[%s] changed: %+v, parent %+v", sec, tr.Section(sec), parent.Section(sec))
					}
				}
				back, err := spec.FromCanonical(tr.Canonical())
				if err != nil || back.Kind != spec.KindSample || back.Hash() != tr.Hash() {
					t.Errorf("stored and read back: kind %q, hash %s, want %s (%v)", back.Kind, back.Hash(), tr.Hash(), err)
				}
				c.check(t, tr)
			}
		})
	}
}

func TestSampleTrialsRefuseTrainingSettings(t *testing.T) {
	_, canon := parentCanonical(t)
	for _, c := range []struct {
		data string
		sets []string
		want string
	}{
		{"", []string{"train.steps=5"}, `"train" is the parent run's`},
		{"", []string{"backend=xla"}, `"backend" is the parent run's`},
		{"[sample]\nsteps = 3\n[network]\nhidden = [8]\n", nil, `s.toml:3: runner sample changes only`},
		{"[sweep]\n\"train.lr\" = [1e-3, 1e-2]\n", nil, `"train.lr" trains`},
		{"", []string{"sample.name=ancestral"}, ""}, // valid: the parent's steps are dropped with its sampler
		{"", []string{"sample.name=ancestral", "sample.steps=4"}, `unknown key "steps" in [sample]`},
	} {
		var data []byte
		if c.data != "" {
			data = []byte(c.data)
		}
		_, err := spec.SampleTrials(canon, "s.toml", data, c.sets)
		if c.want == "" {
			if err != nil {
				t.Errorf("%q %v: %v", c.data, c.sets, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q %v: error %v, want it to say %q", c.data, c.sets, err, c.want)
		}
	}
}

// train.ema takes a rate or a list of rates; a rate stays a number in the canonical form
// (so trials written before lists were allowed keep their hash), and each listed rate is
// range-checked.
func TestEMARateOrList(t *testing.T) {
	one, err := spec.Parse("e.toml", []byte(sampleParent), []string{"train.ema=0.99"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(one[0].Canonical(), `"ema":0.99`) {
		t.Errorf("canonical form of one rate: %s", one[0].Canonical())
	}
	two, err := spec.Parse("e.toml", []byte(sampleParent), []string{"train.ema=[0.99, 0.999]"})
	if err != nil {
		t.Fatal(err)
	}
	if r := two[0].Settings.Train.EMA; len(r) != 2 || r[0] != 0.99 || r[1] != 0.999 {
		t.Errorf("rates %v", r)
	}
	if r := one[0].Settings.Train.EMA; len(r) != 1 || r[0] != 0.99 {
		t.Errorf("one rate decodes to %v, want [0.99]", r)
	}
	back, err := spec.FromCanonical(two[0].Canonical())
	if err != nil || back.Hash() != two[0].Hash() {
		t.Errorf("round trip: %v, hash %s want %s", err, back.Hash(), two[0].Hash())
	}
	for _, bad := range []string{"train.ema=[0.9, 1.5]", "train.ema=[]", `train.ema=["a"]`} {
		if _, err := spec.Parse("e.toml", []byte(sampleParent), []string{bad}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
