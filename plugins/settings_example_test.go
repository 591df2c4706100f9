package plugins_test

import (
	"fmt"
	"reflect"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// warmupSchedule is a schedule whose parameters decode into its own fields.
type warmupSchedule struct {
	Beta     float64 `param:"beta"`
	Fraction float64 `param:"fraction"`
}

// Betas implements plugins.Schedule: Beta after the first Fraction of the steps, a linear
// ramp up to it before.
func (s warmupSchedule) Betas(T int) ([]float64, error) {
	betas := make([]float64, T)
	ramp := int(s.Fraction * float64(T))
	for i := range betas {
		betas[i] = s.Beta
		if i < ramp {
			betas[i] = s.Beta * float64(i+1) / float64(ramp+1)
		}
	}
	return betas, nil
}

var warmupParams = []plugins.Param{
	{Name: "beta", Type: plugins.Float, Default: 0.02, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMin: true, Doc: "beta after the warm-up"},
	{Name: "fraction", Type: plugins.Float, Default: 0.5, Min: plugins.Bound(0), Max: plugins.Bound(1), Doc: "share of the steps that ramp up"},
}

// A plugin may decode its parameters into a struct of its own, as the engine decodes the
// keys a kind shares: CheckSettings holds the struct's tags to the declarations (call it
// where the plugin registers, so that a mismatch stops the program at start-up), and its
// constructor decodes the checked values:
//
//	New: func(v plugins.Values) (plugins.Schedule, error) {
//		var s warmupSchedule
//		return s, plugins.Decode(v, &s)
//	},
func ExampleDecode() {
	if err := plugins.CheckSettings(reflect.TypeFor[warmupSchedule](), warmupParams); err != nil {
		panic(err)
	}
	// What the registry hands the constructor: the given values checked, defaults filled.
	p := &plugins.Plugin{Kind: plugins.KindSchedule, Name: "example_warmup", Params: warmupParams}
	vals, err := p.Resolve(map[string]any{"beta": 0.4})
	if err != nil {
		fmt.Println(err)
		return
	}
	var s warmupSchedule
	if err := plugins.Decode(vals, &s); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", s)
	betas, _ := s.Betas(4)
	fmt.Printf("%.2f\n", betas)
	// Output:
	// {Beta:0.4 Fraction:0.5}
	// [0.13 0.27 0.40 0.40]
}
