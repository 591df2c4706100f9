package plugins

import (
	"reflect"
	"strings"
	"testing"
)

var settingsDecls = []Param{
	{Name: "steps", Type: Int, Default: 10},
	{Name: "rate", Type: Float, OrList: true, Default: 0.5},
	{Name: "mode", Type: String, Default: "a"},
	{Name: "on", Type: Bool, Default: true},
	{Name: "sizes", Type: IntList, Default: []int{1}},
	{Name: "names", Type: StringList, Default: []string{}},
}

type goodSettings struct {
	Steps int       `param:"steps"`
	Rates []float64 `param:"rate"`
	Mode  string    `param:"mode"`
	On    bool      `param:"on"`
	Sizes []int     `param:"sizes"`
	Names []string  `param:"names"`
	note  string    // unexported fields are the struct's own business
}

// TestCheckSettings: a settings struct agrees with its declarations, or CheckSettings names
// the field or key that does not.
func TestCheckSettings(t *testing.T) {
	if err := CheckSettings(reflect.TypeFor[goodSettings](), settingsDecls); err != nil {
		t.Fatalf("a matching struct: %v", err)
	}
	type oneRate struct {
		Steps int      `param:"steps"`
		Rate  float64  `param:"rate"` // an OrList float may decode into its first value
		Mode  string   `param:"mode"`
		On    bool     `param:"on"`
		Sizes []int    `param:"sizes"`
		Names []string `param:"names"`
	}
	if err := CheckSettings(reflect.TypeFor[oneRate](), settingsDecls); err != nil {
		t.Errorf("an OrList float into a float64: %v", err)
	}
	type missing struct {
		Steps int `param:"steps"`
	}
	type wrongType struct {
		Steps float64 `param:"steps"`
	}
	type extra struct {
		Steps int `param:"steps"`
		Typo  int `param:"stpes"`
	}
	type untagged struct {
		Steps int `param:"steps"`
		Other int
	}
	type twice struct {
		Steps int `param:"steps"`
		Again int `param:"steps"`
	}
	steps := settingsDecls[:1]
	for _, tc := range []struct {
		name  string
		typ   reflect.Type
		decls []Param
		want  string
	}{
		{"missing field", reflect.TypeFor[missing](), settingsDecls[:2], `no field for parameter "rate"`},
		{"wrong type", reflect.TypeFor[wrongType](), steps, `Steps is a float64; parameter "steps" (int) needs int`},
		{"undeclared tag", reflect.TypeFor[extra](), steps, `Typo is tagged "stpes", which is not a declared parameter`},
		{"untagged field", reflect.TypeFor[untagged](), steps, `Other has no param:"KEY" tag`},
		{"tag twice", reflect.TypeFor[twice](), steps, `two fields are tagged "steps"`},
		{"not a struct", reflect.TypeFor[int](), steps, "is not a struct"},
		{"no type", nil, steps, "is not a struct"},
	} {
		err := CheckSettings(tc.typ, tc.decls)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// TestDecodeFillsFields: Decode fills every tagged field from resolved values (defaults
// included), gives an OrList float as a list of one or as its first value, whichever the
// field is, ignores keys it has no field for, and copies lists.
func TestDecodeFillsFields(t *testing.T) {
	p := &Plugin{Name: "x", Params: append(settingsDecls, Param{Name: "own", Type: Int, Default: 1})}
	vals, err := p.Resolve(map[string]any{"steps": int64(3), "sizes": []any{int64(4), int64(5)}})
	if err != nil {
		t.Fatal(err)
	}
	var got goodSettings
	if err := Decode(vals, &got); err != nil {
		t.Fatal(err)
	}
	want := goodSettings{Steps: 3, Rates: []float64{0.5}, Mode: "a", On: true, Sizes: []int{4, 5}, Names: []string{}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
	got.Sizes[0] = 99
	if vals.Ints("sizes")[0] != 4 {
		t.Error("the decoded list shares memory with the values")
	}
	listed, err := p.Resolve(map[string]any{"rate": []any{0.25, 0.75}})
	if err != nil {
		t.Fatal(err)
	}
	var first struct {
		Rate float64 `param:"rate"`
	}
	if err := Decode(listed, &first); err != nil || first.Rate != 0.25 {
		t.Errorf("a listed rate into a float64: %v, %v; want 0.25", first.Rate, err)
	}
	if err := Decode(listed, &got); err != nil || !reflect.DeepEqual(got.Rates, []float64{0.25, 0.75}) {
		t.Errorf("a listed rate into a []float64: %v, %v", got.Rates, err)
	}
	var wrong struct {
		Mode int `param:"mode"`
	}
	if err := Decode(vals, &wrong); err == nil || !strings.Contains(err.Error(), `"mode" holds string`) {
		t.Errorf("a field of the wrong type: %v", err)
	}
	var absent struct {
		Gone int `param:"gone"`
	}
	if err := Decode(vals, &absent); err == nil || !strings.Contains(err.Error(), `no value for "gone"`) {
		t.Errorf("a key with no value: %v", err)
	}
	if err := Decode(vals, got); err == nil {
		t.Error("Decode into a struct value (not a pointer) was accepted")
	}
}

// TestRegisterKindChecksSharedKeys: a kind whose shared keys and settings struct disagree,
// or whose shared keys have no struct, is refused when it is declared, not when a run reads
// a key.
func TestRegisterKindChecksSharedKeys(t *testing.T) {
	type settings struct {
		Steps int `param:"steps"`
	}
	for _, tc := range []struct {
		name string
		info KindInfo
		want string
	}{
		{"no struct", KindInfo{Kind: "k1", Table: "k1", Key: "name", Common: settingsDecls[:1]}, "is not a struct"},
		{"disagree", KindInfo{Kind: "k2", Table: "k2", Key: "name", Common: settingsDecls[:2], Settings: reflect.TypeFor[settings]()},
			`no field for parameter "rate"`},
		{"no own table", KindInfo{Kind: "k3", Table: "k3", Key: "pick", Common: settingsDecls[:1], Settings: reflect.TypeFor[settings]()},
			"no table of its own"},
	} {
		tc.info.Contract = reflect.TypeFor[thing]()
		func() {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.Contains(msg, tc.want) {
					t.Errorf("%s: panic %v, want one with %q", tc.name, r, tc.want)
				}
			}()
			RegisterKind(tc.info)
		}()
	}
	for _, k := range Kinds() {
		if len(k.Common) > 0 && k.Settings == nil {
			t.Errorf("kind %s has shared keys but no settings struct", k.Kind)
		}
	}
}
