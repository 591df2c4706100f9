package torch

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type want struct {
	DType  string    `json:"dtype"`
	Shape  []int     `json:"shape"`
	Values []float64 `json:"values"`
}

// orderedWants reads one section of values.json keeping the file's key order.
func orderedWants(t *testing.T, section string) ([]string, map[string]want) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "values.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sections); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(sections[section])))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var names []string
	wants := map[string]want{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var w want
		if err := dec.Decode(&w); err != nil {
			t.Fatal(err)
		}
		names = append(names, tok.(string))
		wants[tok.(string)] = w
	}
	return names, wants
}

// TestReadStateDictMatchesTorch reads the checkpoints gen.py saved with torch.save, in the zip
// format and in the legacy one, and compares every tensor's dtype, shape and every value with
// what PyTorch itself printed: float64 exactly, float32 and float16 exactly after widening,
// the transposed view and the two views of one storage in their logical order.
func TestReadStateDictMatchesTorch(t *testing.T) {
	for _, tc := range []struct{ file, section string }{
		{"state.pt", "state"},
		{"nested.pt", "nested"},
		{"state_legacy.pt", "state"},
		{"nested_legacy.pt", "nested"},
		{"little.pt", "order"},
		{"bigendian.pt", "order"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			sd, err := ReadStateDict(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			names, wants := orderedWants(t, tc.section)
			if !reflect.DeepEqual(sd.Names, names) {
				t.Fatalf("names %v, want %v", sd.Names, names)
			}
			for _, name := range names {
				w, got := wants[name], sd.Tensors[name]
				if got.DType != w.DType {
					t.Errorf("%s: dtype %s, want %s", name, got.DType, w.DType)
				}
				if len(got.Shape) != len(w.Shape) || (len(w.Shape) > 0 && !reflect.DeepEqual(got.Shape, w.Shape)) {
					t.Errorf("%s: shape %v, want %v", name, got.Shape, w.Shape)
				}
				vals := got.Float64()
				if len(vals) != len(w.Values) || got.Len() != len(w.Values) {
					t.Fatalf("%s: %d values (Len %d), want %d", name, len(vals), got.Len(), len(w.Values))
				}
				for i := range vals {
					if vals[i] != w.Values[i] {
						t.Errorf("%s[%d] = %v, want %v", name, i, vals[i], w.Values[i])
					}
				}
				if got.IsFloat() {
					f32, err := got.Float32()
					if err != nil {
						t.Fatal(err)
					}
					for i := range f32 {
						if f32[i] != float32(w.Values[i]) {
							t.Errorf("%s[%d] as float32 = %v, want %v", name, i, f32[i], float32(w.Values[i]))
						}
					}
				}
			}
		})
	}
}

// TestStridedAndSharedTensors pins the cases the stride and offset walk exists for, with
// values taken from values.json rather than recomputed here.
func TestStridedAndSharedTensors(t *testing.T) {
	sd, err := ReadStateDict(filepath.Join("testdata", "state.pt"))
	if err != nil {
		t.Fatal(err)
	}
	tr := sd.Tensors["transposed"]
	if !reflect.DeepEqual(tr.Shape, []int{6, 4}) {
		t.Fatalf("transposed shape %v", tr.Shape)
	}
	a, b := sd.Tensors["shared.a"].Float64(), sd.Tensors["shared.b"].Float64()
	// shared.a is elements 2..4 of one storage and shared.b elements 4..9: they overlap at 4.
	if a[2] != b[0] {
		t.Errorf("shared.a[2] = %v and shared.b[0,0] = %v: both are the storage's element 4", a[2], b[0])
	}
	if s := sd.Tensors["scalar"]; len(s.Shape) != 0 || s.Float64()[0] != 3.25 {
		t.Errorf("scalar: shape %v values %v, want [] and 3.25", s.Shape, s.Float64())
	}
	c := sd.Tensors["counter"]
	if _, err := c.Float32(); err == nil {
		t.Error("Float32 of an int64 tensor: no error")
	}
	if v, err := c.Int64(); err != nil || v[0] != 7 {
		t.Errorf("counter Int64 = %v, %v; want [7]", v, err)
	}
}

// TestReadStateDictRefusals: every refusal names the file and says what is wrong.
func TestReadStateDictRefusals(t *testing.T) {
	dir := t.TempDir()
	whole, err := os.ReadFile(filepath.Join("testdata", "state.pt"))
	if err != nil {
		t.Fatal(err)
	}
	legacyWhole, err := os.ReadFile(filepath.Join("testdata", "state_legacy.pt"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	damaged := append([]byte{0x80, 0x02, 0x8a, 0x0a}, make([]byte, 20)...)
	seven := []byte{0x80, 0x02, 'K', 7, '.'} // pickle.dumps(7, protocol=2)
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "absent.pt"), "no such file"},
		{"directory", dir, "not a regular file"},
		{"not a zip", write("text.pt", []byte("hello, not a checkpoint\n")), "not a PyTorch checkpoint"},
		{"empty", write("empty.pt", nil), "not a PyTorch checkpoint"},
		{"a pickle without the magic number", write("pickle.pt", seven), "not torch.save's magic number"},
		{"a damaged pickle", write("damaged.pt", damaged), "cannot be read"},
		{"legacy truncated in a storage", write("legacy-trunc.pt", legacyWhole[:len(legacyWhole)-3]), "truncated"},
		{"legacy truncated in the pickles", write("legacy-head.pt", legacyWhole[:60]), "truncated"},
		{"legacy truncated after the pickles", write("legacy-keys.pt", legacyWhole[:legacyDataStart(t, legacyWhole)]), "truncated"},
		{"truncated", write("trunc.pt", whole[:len(whole)/2]), "truncated"},
		{"truncated to the header", write("head.pt", whole[:10]), "truncated"},
		{"non-tensor entry", filepath.Join("testdata", "notensor.pt"), `entry "step" is a int, not a tensor`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadStateDict(tc.path)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want the file %s and %q", err, tc.path, tc.want)
			}
		})
	}
}

// TestFloat32Rounding: a float64 tensor read as float32 rounds to nearest.
func TestFloat32Rounding(t *testing.T) {
	x := &Tensor{DType: "float64", Shape: []int{2}, f64: []float64{1 + math.Pow(2, -30), -0.1}}
	got, err := x.Float32()
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 1 || got[1] != float32(-0.1) {
		t.Errorf("Float32 = %v", got)
	}
}

// legacyDataStart is where a legacy-format file's storages begin: after its last pickle, the
// storage keys, a list (PROTO 2, EMPTY_LIST: the only pickle of the file that starts so) whose
// APPENDS and STOP close it ("e.").
func legacyDataStart(t *testing.T, b []byte) int {
	t.Helper()
	start := strings.Index(string(b), "\x80\x02]")
	end := strings.Index(string(b[max(start, 0):]), "e.")
	if start < 0 || end < 0 {
		t.Fatal("no storage keys found")
	}
	return start + end + 2
}
