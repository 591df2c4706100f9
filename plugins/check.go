package plugins

import (
	"fmt"
	"reflect"
	"slices"
)

var (
	valuesType = reflect.TypeFor[Values]()
	errorType  = reflect.TypeFor[error]()
)

// check validates a plugin before it joins the registry and prepares its typed constructor.
func check(p *Plugin) error {
	if p.Name == "" || p.Kind == "" {
		return fmt.Errorf("Register needs a kind and a name")
	}
	info, ok := Info(p.Kind)
	if !ok {
		return fmt.Errorf("%s %q: kind %q is not declared (see RegisterKind)", p.Kind, p.Name, p.Kind)
	}
	build, err := typedConstructor(p.New, info.Contract)
	if err != nil {
		return fmt.Errorf("%s %q: %v", p.Kind, p.Name, err)
	}
	p.build = build
	seen := map[string]bool{}
	for _, d := range p.Params {
		if seen[d.Name] {
			return fmt.Errorf("%s %q declares parameter %q twice", p.Kind, p.Name, d.Name)
		}
		seen[d.Name] = true
		if _, err := d.Check(d.Default); err != nil {
			return fmt.Errorf("%s %q: default of %q: %v", p.Kind, p.Name, d.Name, err)
		}
	}
	if p.Kind == KindMetric && len(p.Reports) == 0 {
		return fmt.Errorf("metric %q declares no reported values (Plugin.Reports)", p.Name)
	}
	if p.Kind != KindMetric && len(p.Reports) > 0 {
		return fmt.Errorf("%s %q declares reported values; only metrics report values", p.Kind, p.Name)
	}
	reported := map[string]bool{}
	for _, r := range p.Reports {
		if r.Key == "" || reported[r.Key] {
			return fmt.Errorf("metric %q: reported value %q is empty or declared twice", p.Name, r.Key)
		}
		reported[r.Key] = true
		if r.Better != LowerIsBetter && r.Better != HigherIsBetter && r.Better != NotRanked {
			return fmt.Errorf("metric %q: value %q: Better is %q (valid: %q, %q or empty)", p.Name, r.Key, r.Better, LowerIsBetter, HigherIsBetter)
		}
		if !slices.Contains(sources, r.From) {
			return fmt.Errorf("metric %q: value %q: From is %q (valid: %q, %q, %q or %q: what the value is computed from)",
				p.Name, r.Key, r.From, FromSamples, FromWeights, FromMachine, FromRun)
		}
		if r.PerExampleBound < 0 || r.PerExampleBound > 0 && r.From != FromWeights {
			return fmt.Errorf("metric %q: value %q: PerExampleBound %g needs From %q and a positive factor", p.Name, r.Key, r.PerExampleBound, FromWeights)
		}
	}
	return nil
}

// typedConstructor checks that fn is a func(Values) (X, error) with X implementing contract,
// and wraps it as a func(Values) (any, error).
func typedConstructor(fn any, contract reflect.Type) (func(Values) (any, error), error) {
	if fn == nil {
		return nil, fmt.Errorf("registered without a constructor")
	}
	v := reflect.ValueOf(fn)
	ft := v.Type()
	want := fmt.Sprintf("func(plugins.Values) (%s, error)", contract)
	if ft.Kind() != reflect.Func || ft.NumIn() != 1 || ft.In(0) != valuesType || ft.NumOut() != 2 || ft.Out(1) != errorType {
		return nil, fmt.Errorf("constructor is a %s, want a %s", ft, want)
	}
	if out := ft.Out(0); !out.Implements(contract) {
		return nil, fmt.Errorf("constructor returns %s, which does not implement %s (want a %s)", out, contract, want)
	}
	return func(vals Values) (any, error) {
		res := v.Call([]reflect.Value{reflect.ValueOf(vals)})
		if err, _ := res[1].Interface().(error); err != nil {
			return nil, err
		}
		if k := res[0].Kind(); (k == reflect.Interface || k == reflect.Pointer) && res[0].IsNil() {
			return nil, fmt.Errorf("constructor returned nil")
		}
		return res[0].Interface(), nil
	}, nil
}
