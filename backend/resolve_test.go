package backend

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubPlugin compiles a stand-in PJRT plugin whose API table reports the given version, at
// path (it is never initialised: only its version is read).
func stubPlugin(t *testing.T, path string, major, minor int) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc to build a stand-in plugin")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	src := path + ".c"
	body := fmt.Sprintf(`#include <stddef.h>
struct version { size_t struct_size; void *ext; int major, minor; };
struct api { size_t struct_size; void *ext; struct version v; };
static struct api table = { sizeof(struct api), 0, { sizeof(struct version), 0, %d, %d } };
const struct api *GetPjrtApi(void) { return &table; }
`, major, minor)
	if err := os.WriteFile(src, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", path, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
}

// isolatedSearch points the plugin search at a fake site-packages folder only.
func isolatedSearch(t *testing.T) (sitePackages string) {
	sitePackages = filepath.Join(t.TempDir(), "site-packages")
	t.Setenv("DDPM_SITE_PACKAGES", sitePackages)
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
	t.Setenv("LD_LIBRARY_PATH", "")
	return sitePackages
}

func TestResolveXLAConfigs(t *testing.T) {
	sp := isolatedSearch(t)
	cpu := filepath.Join(sp, "jax_plugins", "xla_cpu", "xla_cpu_plugin.so")
	stubPlugin(t, cpu, 0, 90)
	older := filepath.Join(t.TempDir(), "older.so")
	stubPlugin(t, older, 0, 12)
	cases := []struct {
		config, resolved, err string
	}{
		{"go", "go", ""},
		{"go:threads=1", "go:threads=1", ""},
		{"xla:cpu", "xla:" + cpu + ",shared_buffers", ""},
		{"xla", "xla:" + cpu + ",shared_buffers", ""}, // no cuda plugin: falls back to cpu
		{"xla:cpu,tf32", "xla:" + cpu + ",shared_buffers,tf32", ""},
		{"xla:" + cpu, "xla:" + cpu, ""},
		{"xla:cuda", "", "no cuda PJRT plugin found"},
		{"xla:" + older, "", "speaks PJRT C API 0.12, older than the 0.83"},
		{"tpu", "", `unknown backend "tpu"`},
	}
	for _, c := range cases {
		got, _, err := resolveXLA(c.config)
		if c.err == "" && (err != nil || got != c.resolved) {
			t.Errorf("resolveXLA(%q) = %q, %v; want %q", c.config, got, err, c.resolved)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("resolveXLA(%q) error %v, want it to say %q", c.config, err, c.err)
		}
		if c.err != "" && strings.HasPrefix(c.config, "xla") && !strings.Contains(err.Error(), "never downloads") {
			t.Errorf("resolveXLA(%q): %v does not say what to do", c.config, err)
		}
	}
	status := strings.Join(Status(), "\n")
	for _, want := range []string{"go: pure Go, available", "xla:cpu: available: cpu " + cpu, "PJRT C API 0.90",
		"xla:cuda: unusable: no cuda PJRT plugin found"} {
		if !strings.Contains(status, want) {
			t.Errorf("Status() lacks %q:\n%s", want, status)
		}
	}
}
