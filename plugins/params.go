package plugins

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Type is the type of a declared parameter.
type Type int

// Parameter types. Values of each type are stored in Values as int, float64, string, bool,
// []int, []float64 or []string.
const (
	Int Type = iota
	Float
	String
	Bool
	IntList
	FloatList
	StringList
)

func (t Type) String() string {
	return [...]string{"int", "float", "string", "bool", "[]int", "[]float", "[]string"}[t]
}

// Param declares one parameter of a plugin.
type Param struct {
	Name    string
	Type    Type
	Default any
	Doc     string
	// Min and Max bound numeric values (and every element of a numeric list); nil means
	// unbounded. ExclusiveMin/ExclusiveMax make the bound strict.
	Min, Max                   *float64
	ExclusiveMin, ExclusiveMax bool
	// Choices, when not empty, lists the valid values of a string parameter (or of every
	// element of a string list).
	Choices []string
	// MinLen is the smallest allowed length of a list parameter; MaxLen, when positive, the
	// largest. A list whose length sets how much is built (a network's layers) needs MaxLen:
	// the memory estimate counts tensors, not the per-layer cost of building the graph.
	MinLen, MaxLen int
	// OrList lets a Float parameter be a list of floats too (each in range, at least one):
	// Values.Float then gives its first element and Values.Floats all of them.
	OrList bool
	// OmitDefault leaves the parameter out of a trial's canonical form, and so out of its
	// hash, while it holds its default. A parameter added after runs were recorded needs it:
	// otherwise every recorded trial's hash changes, and --resume and --add-seeds no longer
	// find the runs a database holds. (Declaring it on an existing parameter changes the
	// hashes of the trials that hold that parameter's default.)
	OmitDefault bool
}

// Bound is a helper for writing Min and Max in declarations: Min: plugins.Bound(0).
func Bound(v float64) *float64 { return &v }

// Range describes the allowed values in words, for `runner plugins` and error messages.
func (d Param) Range() string {
	values := d.valueRange()
	if d.MaxLen > 0 {
		return fmt.Sprintf("%s; %d to %d elements", values, d.MinLen, d.MaxLen)
	}
	if values == "any" && d.MinLen > 0 {
		return fmt.Sprintf("at least %d element(s)", d.MinLen)
	}
	return values
}

// valueRange describes the allowed values (of every element, for a list).
func (d Param) valueRange() string {
	if len(d.Choices) > 0 {
		return "one of " + strings.Join(d.Choices, ", ")
	}
	if d.Type == Bool {
		return "true or false"
	}
	if d.Min == nil && d.Max == nil {
		return "any"
	}
	lo, hi := "(-inf", "inf)"
	if d.Min != nil {
		lo = "[" + fmtNum(*d.Min)
		if d.ExclusiveMin {
			lo = "(" + fmtNum(*d.Min)
		}
	}
	if d.Max != nil {
		hi = fmtNum(*d.Max) + "]"
		if d.ExclusiveMax {
			hi = fmtNum(*d.Max) + ")"
		}
	}
	return lo + ", " + hi
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Check converts a raw value (as decoded from TOML, JSON or a --set string already parsed as
// TOML) to the parameter's Go type and checks its range. Integers are accepted where a float
// is expected; a float is accepted for an int only when it is integral.
func (d Param) Check(v any) (any, error) {
	switch d.Type {
	case Int:
		i, err := toInt(v)
		if err != nil {
			return nil, err
		}
		return i, d.checkNum(float64(i))
	case Float:
		if items, ok := asList(v); ok && d.OrList {
			if len(items) == 0 {
				return nil, fmt.Errorf("want a float or a non-empty list of floats, got an empty list")
			}
			return Param{Type: FloatList, Min: d.Min, Max: d.Max, ExclusiveMin: d.ExclusiveMin, ExclusiveMax: d.ExclusiveMax}.Check(items)
		}
		f, err := toFloat(v)
		if err != nil {
			return nil, err
		}
		return f, d.checkNum(f)
	case String:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %s", describe(v))
		}
		return s, d.checkChoice(s)
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want true or false, got %s", describe(v))
		}
		return b, nil
	case IntList, FloatList, StringList:
		items, ok := asList(v)
		if !ok {
			return nil, fmt.Errorf("want a list (%s), got %s", d.Type, describe(v))
		}
		if len(items) < d.MinLen {
			return nil, fmt.Errorf("want at least %d element(s), got %d", d.MinLen, len(items))
		}
		if d.MaxLen > 0 && len(items) > d.MaxLen {
			return nil, fmt.Errorf("want at most %d elements, got %d", d.MaxLen, len(items))
		}
		switch d.Type {
		case IntList:
			out := make([]int, len(items))
			for i, it := range items {
				n, err := toInt(it)
				if err != nil {
					return nil, fmt.Errorf("element %d: %v", i, err)
				}
				if err := d.checkNum(float64(n)); err != nil {
					return nil, fmt.Errorf("element %d: %v", i, err)
				}
				out[i] = n
			}
			return out, nil
		case FloatList:
			out := make([]float64, len(items))
			for i, it := range items {
				f, err := toFloat(it)
				if err != nil {
					return nil, fmt.Errorf("element %d: %v", i, err)
				}
				if err := d.checkNum(f); err != nil {
					return nil, fmt.Errorf("element %d: %v", i, err)
				}
				out[i] = f
			}
			return out, nil
		default:
			out := make([]string, len(items))
			for i, it := range items {
				s, ok := it.(string)
				if !ok {
					return nil, fmt.Errorf("element %d: want a string, got %s", i, describe(it))
				}
				if err := d.checkChoice(s); err != nil {
					return nil, fmt.Errorf("element %d: %v", i, err)
				}
				out[i] = s
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("unsupported parameter type %d", d.Type)
}

func (d Param) checkNum(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("value %v is not finite (valid: %s)", f, d.Range())
	}
	bad := (d.Min != nil && (f < *d.Min || (d.ExclusiveMin && f == *d.Min))) ||
		(d.Max != nil && (f > *d.Max || (d.ExclusiveMax && f == *d.Max)))
	if bad {
		return fmt.Errorf("value %v out of range (valid: %s)", fmtNum(f), d.Range())
	}
	return nil
}

func (d Param) checkChoice(s string) error {
	if len(d.Choices) == 0 || slices.Contains(d.Choices, s) {
		return nil
	}
	msg := fmt.Sprintf("%q is not valid (valid: %s)", s, strings.Join(d.Choices, ", "))
	if best := Closest(s, d.Choices); best != "" {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	return fmt.Errorf("%s", msg)
}

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case int32:
		return int(x), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x), nil
		}
		return 0, fmt.Errorf("want an integer, got %v", x)
	}
	return 0, fmt.Errorf("want an integer, got %s", describe(v))
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("want a number, got %s", describe(v))
}

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []int:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out, true
	case []float64:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out, true
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out, true
	}
	return nil, false
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case bool:
		return fmt.Sprintf("bool %v", x)
	case int, int64, int32:
		return fmt.Sprintf("integer %v", x)
	case float64, float32:
		return fmt.Sprintf("float %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%T", v)
}

// Values holds a plugin's resolved parameters, keyed by parameter name. The getters panic on
// a missing or mistyped key: after Resolve that can only be a bug in the plugin.
type Values map[string]any

// Int returns an int parameter.
func (v Values) Int(name string) int { return v[name].(int) }

// Float returns a float parameter (the first element of one given as a list; see OrList).
func (v Values) Float(name string) float64 {
	if l, ok := v[name].([]float64); ok {
		return l[0]
	}
	return v[name].(float64)
}

// String returns a string parameter.
func (v Values) String(name string) string { return v[name].(string) }

// Bool returns a bool parameter.
func (v Values) Bool(name string) bool { return v[name].(bool) }

// Ints returns an int list parameter.
func (v Values) Ints(name string) []int { return v[name].([]int) }

// Floats returns a float list parameter, or a float parameter as a list of one.
func (v Values) Floats(name string) []float64 {
	if f, ok := v[name].(float64); ok {
		return []float64{f}
	}
	return v[name].([]float64)
}

// Strings returns a string list parameter.
func (v Values) Strings(name string) []string { return v[name].([]string) }
