package plugins_test

import (
	"fmt"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// linearSchedule is a beta schedule: betas evenly spaced from Start to End.
type linearSchedule struct{ Start, End float64 }

// Betas implements plugins.Schedule.
func (s linearSchedule) Betas(T int) ([]float64, error) {
	betas := make([]float64, T)
	for i := range betas {
		betas[i] = s.Start
		if T > 1 {
			betas[i] += (s.End - s.Start) * float64(i) / float64(T-1)
		}
	}
	return betas, nil
}

// A plugin declares its parameters and a constructor of the kind's contract; the registry
// then checks values against the declaration, fills in defaults and builds it. A plugin
// package makes this call in its init function.
func ExampleRegister() {
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSchedule, Name: "example_linear",
		Doc: "betas evenly spaced from beta_start to beta_end",
		Params: []plugins.Param{
			{Name: "beta_start", Type: plugins.Float, Default: 0.1, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMin: true, Doc: "first beta"},
			{Name: "beta_end", Type: plugins.Float, Default: 0.4, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMin: true, Doc: "last beta"},
		},
		New: func(v plugins.Values) (plugins.Schedule, error) {
			return linearSchedule{Start: v.Float("beta_start"), End: v.Float("beta_end")}, nil
		},
	})

	// beta_end is given; beta_start takes its default.
	s, err := plugins.Build(plugins.KindSchedule, "example_linear", map[string]any{"beta_end": 0.7})
	if err != nil {
		fmt.Println(err)
		return
	}
	betas, _ := s.(plugins.Schedule).Betas(4)
	fmt.Printf("%.2f\n", betas)

	// Out-of-range values and misspelt names are errors that say what would be valid.
	_, err = plugins.Build(plugins.KindSchedule, "example_linear", map[string]any{"beta_end": 2.0})
	fmt.Println(err)
	_, err = plugins.Lookup(plugins.KindSchedule, "example_linaer")
	fmt.Println(err)
	// Output:
	// [0.10 0.30 0.50 0.70]
	// schedule "example_linear": key "beta_end": value 2 out of range (valid: (0, 1])
	// unknown schedule "example_linaer" (registered: example_linear); did you mean "example_linear"?
}
