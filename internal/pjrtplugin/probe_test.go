package pjrtplugin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// fakePlugin compiles a shared library whose GetPjrtApi returns a table that reports the
// given version (or, with body set, that has the given C source instead).
func fakePlugin(t *testing.T, name, body string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc to build a stand-in plugin")
	}
	dir := t.TempDir()
	src, lib := filepath.Join(dir, name+".c"), filepath.Join(dir, name+".so")
	if err := os.WriteFile(src, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return lib
}

// apiSource is a stand-in plugin: the leading fields of PJRT_Api with a version, followed by
// room where the function pointers would be.
func apiSource(major, minor int) string {
	return fmt.Sprintf(`#include <stddef.h>
struct version { size_t struct_size; void *ext; int major, minor; };
struct api { size_t struct_size; void *ext; struct version v; void *fns[8]; };
static struct api table = { sizeof(struct api), 0, { sizeof(struct version), 0, %d, %d } };
const struct api *GetPjrtApi(void) { return &table; }
`, major, minor)
}

func TestReadVersion(t *testing.T) {
	cases := []struct {
		name, body string
		want       Version
		readErr    string // ReadVersion's error
		compatErr  string // Compatible's error
	}{
		{"newer", apiSource(0, 91), Version{0, 91}, "", ""},
		{"same", apiSource(APIMajor, APIMinor), Version{APIMajor, APIMinor}, "", ""},
		{"older", apiSource(0, 54), Version{0, 54}, "", "speaks PJRT C API 0.54, older than the 0.83"},
		{"major", apiSource(1, 0), Version{1, 0}, "", "speaks PJRT C API 1.0, and GoMLX v0.26.0 speaks 0.83"},
		{"no symbol", "int other(void) { return 1; }\n", Version{}, "exports no GetPjrtApi", ""},
		{"null table", "void *GetPjrtApi(void) { return 0; }\n", Version{}, "returned no API table", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lib := fakePlugin(t, strings.ReplaceAll(c.name, " ", "_"), c.body)
			v, err := ReadVersion(lib)
			if c.readErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.readErr) {
					t.Fatalf("ReadVersion = %v, %v; want an error saying %q", v, err, c.readErr)
				}
				return
			}
			if err != nil || v != c.want {
				t.Fatalf("ReadVersion = %v, %v; want %v", v, err, c.want)
			}
			err = Compatible(v)
			if c.compatErr == "" && err != nil {
				t.Errorf("Compatible(%v) = %v, want nil", v, err)
			}
			if c.compatErr != "" && (err == nil || !strings.Contains(err.Error(), c.compatErr)) {
				t.Errorf("Compatible(%v) = %v, want %q", v, err, c.compatErr)
			}
		})
	}
}

// An older plugin can be let through by hand; a different major version cannot.
func TestAllowOlder(t *testing.T) {
	t.Setenv(AllowOlderEnv, "1")
	if err := Compatible(Version{0, 54}); err != nil {
		t.Errorf("with %s=1, Compatible(0.54) = %v", AllowOlderEnv, err)
	}
	if err := Compatible(Version{1, 0}); err == nil {
		t.Errorf("with %s=1, Compatible(1.0) = nil, want an error", AllowOlderEnv)
	}
}

func TestReadVersionMissingFile(t *testing.T) {
	_, err := ReadVersion(filepath.Join(t.TempDir(), "absent.so"))
	if err == nil || !strings.Contains(err.Error(), "cannot be loaded") || !strings.Contains(err.Error(), "absent.so") {
		t.Errorf("ReadVersion(missing) = %v, want 'cannot be loaded' naming the file", err)
	}
}

// The API version this package checks against is the one in the pjrt_c_api.h that GoMLX's
// XLA backend is compiled with.
func TestAPIVersionMatchesGoXLAHeader(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/gomlx/go-xla").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skipf("go-xla's source is not in the module cache: %v", err)
	}
	header, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "pkg", "pjrt", "pjrt_c_api.h"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"PJRT_API_MAJOR": APIMajor, "PJRT_API_MINOR": APIMinor} {
		m := regexp.MustCompile(`#define ` + name + ` (\d+)`).FindSubmatch(header)
		if m == nil {
			t.Fatalf("no %s in go-xla's pjrt_c_api.h", name)
		}
		if got, _ := strconv.Atoi(string(m[1])); got != want {
			t.Errorf("go-xla's header has %s %d, this package says %d", name, got, want)
		}
	}
}
