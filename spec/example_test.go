package spec_test

import (
	"fmt"

	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// A spec expands to one trial per seed and sweep point, every key resolved against the
// plugins' declarations with defaults filled in; --set overrides come as the third argument.
// The spec is named after its file when it has no name.
func ExampleParse() {
	text := `
seeds = [0, 1]
[schedule]
T = 200
[sweep]
"schedule.name" = ["linear", "cosine"]
`
	trials, err := spec.Parse("schedules.toml", []byte(text), []string{"train.steps=500"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, tr := range trials {
		p := tr.Params()
		fmt.Println(tr.Spec, "seed", tr.Seed, "schedule", p["schedule.name"], "T", p["schedule.T"],
			"steps", p["train.steps"], "predictor", p["predictor.name"])
	}
	// Output:
	// schedules seed 0 schedule linear T 200 steps 500 predictor eps
	// schedules seed 1 schedule linear T 200 steps 500 predictor eps
	// schedules seed 0 schedule cosine T 200 steps 500 predictor eps
	// schedules seed 1 schedule cosine T 200 steps 500 predictor eps
}

// A mistake is an error naming the file, the line and the key, with what would be valid.
func ExampleParse_misspeltKey() {
	text := `
[schedule]
name = "cosine"
max_bta = 0.99
`
	_, err := spec.Parse("cosine.toml", []byte(text), nil)
	fmt.Println(err)
	// Output:
	// cosine.toml:4: unknown key "max_bta" in [schedule] (cosine takes: T, zero_terminal_snr, s, max_beta); did you mean "max_beta"?
}
