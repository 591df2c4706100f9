package plugins

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// thing is the contract of the kinds these tests declare.
type thing interface{ Thing() }

type aThing struct{}

func (aThing) Thing() {}

func newThing(Values) (thing, error) { return aThing{}, nil }

func init() {
	for _, k := range []Kind{"testkind", "testsched"} {
		RegisterKind(KindInfo{Kind: k, Table: string(k), Key: "name", Contract: reflect.TypeFor[thing]()})
	}
}

// TestRegisterChecksTheConstructorsType: a constructor whose result does not implement the
// kind's contract is refused at registration, with the plugin's name; so are an undeclared
// kind, a metric that declares nothing it reports, and a reported value that does not say
// what it is computed from.
func TestRegisterChecksTheConstructorsType(t *testing.T) {
	cases := []struct {
		name string
		p    Plugin
		want string
	}{
		{"untyped", Plugin{Kind: "testkind", Name: "untyped", New: func(Values) (any, error) { return aThing{}, nil }},
			`testkind "untyped": constructor returns interface {}, which does not implement plugins.thing`},
		{"wrong type", Plugin{Kind: "testkind", Name: "wrongtype", New: func(Values) (Schedule, error) { return nil, nil }},
			`testkind "wrongtype": constructor returns plugins.Schedule, which does not implement plugins.thing`},
		{"not a constructor", Plugin{Kind: "testkind", Name: "notfunc", New: aThing{}},
			`testkind "notfunc": constructor is a plugins.aThing, want a func(plugins.Values) (plugins.thing, error)`},
		{"no constructor", Plugin{Kind: "testkind", Name: "nofunc"}, `testkind "nofunc": registered without a constructor`},
		{"undeclared kind", Plugin{Kind: "nokind", Name: "orphan", New: newThing}, `kind "nokind" is not declared`},
		{"metric without reports", Plugin{Kind: KindMetric, Name: "silent",
			New: func(Values) (Metric, error) { return nil, nil }}, `metric "silent" declares no reported values`},
		{"value without a source", Plugin{Kind: KindMetric, Name: "nosource", New: func(Values) (Metric, error) { return nil, nil },
			Reports: []Report{{Key: "v", Better: LowerIsBetter}}}, `metric "nosource": value "v": From is ""`},
		{"per-example bound of the samples", Plugin{Kind: KindMetric, Name: "badbound", New: func(Values) (Metric, error) { return nil, nil },
			Reports: []Report{{Key: "v", From: FromSamples, PerExampleBound: 1}}}, `value "v": PerExampleBound 1 needs From "weights"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.Contains(msg, c.want) {
					t.Errorf("Register panicked with %v, want a message containing %q", r, c.want)
				}
			}()
			Register(c.p)
		})
	}
	if _, err := Lookup("testkind", "wrongtype"); err == nil {
		t.Error("a refused plugin is in the registry")
	}
}

// TestTypedConstructorBuildsItsType: a constructor that returns a concrete type implementing
// the contract is accepted, and Build returns its value.
func TestTypedConstructorBuildsItsType(t *testing.T) {
	Register(Plugin{Kind: "testkind", Name: "concrete", New: func(Values) (aThing, error) { return aThing{}, nil }})
	v, err := Build("testkind", "concrete", nil)
	if _, ok := v.(thing); err != nil || !ok {
		t.Errorf("Build: %v, %v; want an aThing", v, err)
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	p := Plugin{Kind: "testkind", Name: "dup", New: newThing}
	Register(p)
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "twice") {
			t.Errorf("second Register: recovered %v, want a panic about registering twice", r)
		}
	}()
	Register(p)
}

func TestRegisterRejectsBadDefault(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a default outside its own range was accepted")
		}
	}()
	Register(Plugin{Kind: "testkind", Name: "baddefault", New: newThing,
		Params: []Param{{Name: "x", Type: Float, Default: 2.0, Max: Bound(1)}}})
}

func TestLookupSuggestsClosest(t *testing.T) {
	for _, n := range []string{"cosine", "linear"} {
		Register(Plugin{Kind: "testsched", Name: n, New: newThing})
	}
	_, err := Lookup("testsched", "cosin")
	if err == nil || !strings.Contains(err.Error(), `did you mean "cosine"`) || !strings.Contains(err.Error(), "cosine, linear") {
		t.Errorf("Lookup error %v", err)
	}
	_, err = Lookup("testsched", "zzzzzzzzzzzz")
	if err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a far-off name got a suggestion: %v", err)
	}
}

func TestParamCheck(t *testing.T) {
	cases := []struct {
		p       Param
		in      any
		want    any
		wantErr string
	}{
		{Param{Type: Int, Min: Bound(1)}, int64(3), 3, ""},
		{Param{Type: Int, Min: Bound(1)}, int64(0), nil, "out of range"},
		{Param{Type: Int}, 2.5, nil, "want an integer"},
		{Param{Type: Int}, 4.0, 4, ""},
		{Param{Type: Float, Min: Bound(0), ExclusiveMin: true}, 0.0, nil, "out of range (valid: (0, inf))"},
		{Param{Type: Float}, int64(2), 2.0, ""},
		{Param{Type: Float}, "x", nil, "want a number"},
		{Param{Type: String, Choices: []string{"uniform", "importance"}}, "importanse", nil, `did you mean "importance"`},
		{Param{Type: Bool}, "yes", nil, "want true or false"},
		{Param{Type: IntList, MinLen: 1}, []any{}, nil, "at least 1"},
		{Param{Type: IntList, Min: Bound(1)}, []any{int64(2), int64(0)}, nil, "element 1"},
		{Param{Type: StringList}, []any{"a", "b"}, []string{"a", "b"}, ""},
		{Param{Type: IntList, MinLen: 1, MaxLen: 2}, []any{int64(1), int64(2)}, []int{1, 2}, ""},
		{Param{Type: IntList, MinLen: 1, MaxLen: 2}, []any{int64(1), int64(2), int64(3)}, nil, "want at most 2 elements, got 3"},
		{Param{Type: IntList, MinLen: 1, MaxLen: 2, Min: Bound(1)}, []any{int64(0)}, nil, "valid: [1, inf); 1 to 2 elements"},
		{Param{Type: StringList, MaxLen: 1}, []any{"a", "b"}, nil, "want at most 1 elements, got 2"},
	}
	for i, c := range cases {
		got, err := c.p.Check(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("case %d: error %v, want one containing %q", i, err, c.wantErr)
			}
			continue
		}
		if err != nil || typed(got) != typed(c.want) {
			t.Errorf("case %d: got %v (%v), want %v", i, got, err, c.want)
		}
	}
}

// typed prints a value with its type, so that 3 and 3.0 differ.
func typed(v any) string { return fmt.Sprintf("%T %v", v, v) }

// TestRunReportsDeclareTheirSource: the values every run records say what they come from, as
// a metric's must; those of the machine are the ones a rerun need not reproduce.
func TestRunReportsDeclareTheirSource(t *testing.T) {
	var machine []string
	for _, r := range RunReports {
		if !slices.Contains(sources, r.From) {
			t.Errorf("%s: From %q", r.Key, r.From)
		}
		if !Reproducible(r.Key) {
			machine = append(machine, r.Key)
		}
	}
	if want := []string{"steps_per_sec", "samples_per_sec", "seconds_per_sample"}; !slices.Equal(machine, want) {
		t.Errorf("values of the machine: %v, want %v", machine, want)
	}
	if !Reproducible("a_value_nothing_declares") || Reproducible("steps_per_sec") {
		t.Error("Reproducible: an undeclared value must be reproduced, a speed need not")
	}
}
