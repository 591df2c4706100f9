package plugins

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// A settings struct holds resolved parameters as typed fields, so that code reads
// settings.Steps where it would read vals.Int("steps"): a misspelt field does not compile, a
// misspelt key panics at run time. Each exported field names its parameter in a `param`
// tag; the field's Go type follows the parameter's Type:
//
//	Int int, Float float64, String string, Bool bool,
//	IntList []int, FloatList []float64, StringList []string,
//
// and a Float declared OrList decodes into a float64 (its first value) or a []float64 (all).
// The declarations ([]Param) stay the one place where keys, defaults, ranges and docs are
// written; CheckSettings holds a struct to them, and Decode fills it from resolved Values.
// A plugin may decode its own parameters into a struct of its own the same way.

// settingsTag is the struct tag that names a field's parameter.
const settingsTag = "param"

// CheckSettings reports whether the struct type typ and the declarations decls agree: every
// declared parameter has exactly one field whose tag names it and whose type fits the
// parameter's, and every exported field is tagged with a declared parameter.
func CheckSettings(typ reflect.Type, decls []Param) error {
	if typ == nil || typ.Kind() != reflect.Struct {
		return fmt.Errorf("settings type %v is not a struct", typ)
	}
	fields := map[string]reflect.StructField{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		key, ok := f.Tag.Lookup(settingsTag)
		if !ok || key == "" {
			return fmt.Errorf("%s.%s has no %s:\"KEY\" tag", typ, f.Name, settingsTag)
		}
		if _, dup := fields[key]; dup {
			return fmt.Errorf("%s: two fields are tagged %q", typ, key)
		}
		fields[key] = f
	}
	for _, d := range decls {
		f, ok := fields[d.Name]
		if !ok {
			return fmt.Errorf("%s has no field for parameter %q (tag a field %s:%q)", typ, d.Name, settingsTag, d.Name)
		}
		if !slices.Contains(goTypes(d), f.Type) {
			return fmt.Errorf("%s.%s is a %s; parameter %q (%s) needs %s", typ, f.Name, f.Type, d.Name, d.Type, typeNames(goTypes(d)))
		}
		delete(fields, d.Name)
	}
	for key, f := range fields {
		return fmt.Errorf("%s.%s is tagged %q, which is not a declared parameter", typ, f.Name, key)
	}
	return nil
}

// goTypes are the field types a parameter may decode into.
func goTypes(d Param) []reflect.Type {
	switch d.Type {
	case Int:
		return []reflect.Type{reflect.TypeFor[int]()}
	case Float:
		if d.OrList {
			return []reflect.Type{reflect.TypeFor[float64](), reflect.TypeFor[[]float64]()}
		}
		return []reflect.Type{reflect.TypeFor[float64]()}
	case String:
		return []reflect.Type{reflect.TypeFor[string]()}
	case Bool:
		return []reflect.Type{reflect.TypeFor[bool]()}
	case IntList:
		return []reflect.Type{reflect.TypeFor[[]int]()}
	case FloatList:
		return []reflect.Type{reflect.TypeFor[[]float64]()}
	case StringList:
		return []reflect.Type{reflect.TypeFor[[]string]()}
	}
	return nil
}

func typeNames(ts []reflect.Type) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.String()
	}
	return strings.Join(names, " or ")
}

// Decode fills the tagged fields of the struct that dst points to from resolved values (as
// Resolve returns them: checked, defaults filled). Keys without a field are left alone, so a
// kind's shared keys decode from a table that holds the plugin's own keys too. Lists are
// copied, so the struct shares no memory with vals. The error is a programming error (a
// missing key or a field whose type does not fit); CheckSettings rules it out beforehand.
func Decode(vals Values, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("plugins.Decode needs a pointer to a struct, got %T", dst)
	}
	v = v.Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key, ok := f.Tag.Lookup(settingsTag)
		if !ok || !f.IsExported() {
			continue
		}
		raw, ok := vals[key]
		if !ok {
			return fmt.Errorf("%s.%s: no value for %q", v.Type(), f.Name, key)
		}
		var val any
		switch x := raw.(type) {
		case []int:
			val = slices.Clone(x)
		case []string:
			val = slices.Clone(x)
		case []float64:
			val = slices.Clone(x)
			if f.Type.Kind() == reflect.Float64 { // an OrList float given as a list
				val = vals.Float(key)
			}
		case float64:
			val = x
			if f.Type.Kind() == reflect.Slice { // an OrList float given as one value
				val = []float64{x}
			}
		default:
			val = x
		}
		rv := reflect.ValueOf(val)
		if !rv.IsValid() || rv.Type() != f.Type {
			return fmt.Errorf("%s.%s is a %s; %q holds %T", v.Type(), f.Name, f.Type, key, raw)
		}
		v.Field(i).Set(rv)
	}
	return nil
}
