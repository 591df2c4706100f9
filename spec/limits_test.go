package spec

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

func nest(open, close string, n int, inner string) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

func list(n int, elem string) string {
	return "[" + strings.TrimSuffix(strings.Repeat(elem+", ", n), ", ") + "]"
}

// checkLimits refuses, naming file and line, text whose nesting, dotted keys or lists go
// beyond the limits, and passes text that only looks deep inside strings and comments.
func TestCheckLimits(t *testing.T) {
	deep := nest("[", "]", 100, "")
	cases := []struct {
		name, text string
		line       int    // 0: accepted
		want       string // in the message
	}{
		{"inline tables 17 deep", "a = " + nest("{b = ", "}", 17, "1"), 1, "nested more than 16 deep"},
		{"inline tables 10000 deep", "a = " + nest("{b = ", "}", 10000, "1"), 1, "nested more than 16 deep"},
		{"arrays 17 deep on line 3", "x = 1\n[sweep]\n\"network.hidden\" = " + nest("[", "]", 17, "1"), 3, "nested more than 16 deep"},
		{"array split over lines", "a = [\n[\n" + nest("[", "]", 15, "") + "\n]\n]", 3, "nested more than 16 deep"},
		{"inline tables in an array", "a = [" + nest("{b = [", "]}", 9, "") + "]", 1, "nested more than 16 deep"},
		{"100001 elements", "[network]\nhidden = " + list(100001, "4"), 2, "more than 100000 elements"},
		{"200000 elements over lines", "[network]\nhidden = [\n" + strings.Repeat("4,\n", 200000) + "]", 100003, "more than 100000 elements (opened on line 2)"},
		{"100001 inline entries", "a = {" + strings.TrimSuffix(strings.Repeat("k = 1, ", 100001), ", ") + "}", 1, "more than 100000 entries"},
		{"dotted key of 9 parts", "a.b.c.d.e.f.g.h.i = 1", 1, "more than 8 parts"},
		{"dotted key of 5000 parts", strings.Repeat("a.", 5000) + "b = 1", 1, "more than 8 parts"},
		{"header of 9 parts", "x = 1\n[a.b.c.d.e.f.g.h.i]\n", 2, "more than 8 parts"},
		{"dotted key in an inline table", "x = {a.b.c.d.e.f.g.h.i = 1}", 1, "more than 8 parts"},
		{"over 1 MiB", strings.Repeat("# padding\n", MaxSpecBytes/10+1), 0, "at most 1048576"},

		{"16 deep", "a = " + nest("[", "]", 16, "1"), 0, ""},
		{"100000 elements", "seeds = " + list(100000, "7"), 0, ""},
		{"100000 elements with a trailing comma", "seeds = [" + strings.Repeat("7,\n", 100000) + "]", 0, ""},
		{"8 parts", "a.b.c.d.e.f.g.h = 1\n[a.b.c.d.e.f.g.h]\n[[a.b.c.d.e.f.g.h]]", 0, ""},
		{"sweep of lists", "[sweep]\n\"network.hidden\" = [[8, 8], [16]]", 0, ""},
		{"brackets in a basic string", `description = "` + deep + `"`, 0, ""},
		{"escaped quote", `description = "\"` + deep + `\""`, 0, ""},
		{"brackets in a literal string", `description = '` + deep + `'`, 0, ""},
		{"brackets in multi-line strings", "a = \"\"\"\n" + deep + "\n\"\"\"\"\"\nb = '''\n" + deep + "\n'''", 0, ""},
		{"brackets in a comment", "a = 1 # " + deep + "\n# " + deep, 0, ""},
		{"dots in values and quoted keys", "lr = 1.5e-3\n\"a.b.c.d.e.f.g.h.i.j\" = \"1.2.3.4.5.6.7.8.9.10\"\nd = 1979-05-27T07:32:00.5Z", 0, ""},
		{"long list of short lists", "a = [" + strings.Repeat("[1, 2], ", 5000) + "]", 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := checkLimits("s.toml", []byte(tc.text))
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("the scan allocated %d bytes", alloc)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error containing %q", tc.want)
			}
			e := err.(*Error)
			if e.File != "s.toml" || e.Line != tc.line || !strings.Contains(e.Msg, tc.want) {
				t.Errorf("got %q (line %d), want s.toml line %d and %q", err, e.Line, tc.line, tc.want)
			}
		})
	}
}

// The limits hold wherever spec text is decoded: a spec file, a --set value and the small
// spec of runner sample. Before they were checked, 10,000 nested inline tables (40 KB) took
// the decoder past all memory.
func TestParseRefusesDeepSpecsBeforeDecoding(t *testing.T) {
	deep := nest("{b = ", "}", 10000, "1")
	parent := `{"spec":"p","seed":0,"backend":"go","sections":{}}`
	for _, tc := range []struct {
		name string
		run  func() error
		want []string
	}{
		{"file", func() error { _, err := Parse("deep.toml", []byte("[data]\nname = "+deep), nil); return err },
			[]string{"deep.toml:2:", "nested more than 16 deep"}},
		{"--set", func() error {
			_, err := Parse("s.toml", []byte("[train]\n"), []string{"data.name=" + deep})
			return err
		},
			[]string{"--set data.name={b = {b = ", "...: ", "nested more than 16 deep"}},
		{"sample spec", func() error {
			_, err := SampleTrials(parent, "more.toml", []byte("[sample]\nn = "+deep), nil)
			return err
		},
			[]string{"more.toml:2:", "nested more than 16 deep"}},
		{"hidden with 200000 layers", func() error {
			_, err := Parse("wide.toml", []byte("[network]\nhidden = "+list(200000, "4")), nil)
			return err
		}, []string{"wide.toml:2:", "more than 100000 elements"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := tc.run()
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("allocated %d MiB before refusing", alloc>>20)
			}
			if err == nil || !IsSpecError(err) {
				t.Fatalf("got %v, want a spec error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not contain %q", err, w)
				}
			}
		})
	}
}

// Load reads at most MaxSpecBytes, so an endless file is refused instead of read forever.
func TestLoadRefusesHugeFiles(t *testing.T) {
	big := t.TempDir() + "/big.toml"
	writeSpec(t, big, "name = \"x\"\n"+strings.Repeat("# padding\n", MaxSpecBytes/10))
	for _, path := range []string{big, "/dev/zero"} {
		_, err := Load(path, nil)
		if err == nil || !strings.Contains(err.Error(), path+": is larger than 1048576 bytes") {
			t.Errorf("Load(%s): %v", path, err)
		}
	}
}

func writeSpec(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
