package pjrtplugin

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSearch searches only the fake trees in testdata, with a stand-in GPU check and
// version reader.
func fakeSearch(gpu bool, read func(string) (Version, error)) Search {
	return Search{
		LibraryPath: filepath.Join("testdata", "go-xla"), LibraryPathSet: true,
		SitePackages: []string{filepath.Join("testdata", "site-packages"), filepath.Join("testdata", "missing")},
		HasGPU:       func() bool { return gpu }, ReadVersion: read,
	}
}

func readAs(v Version) func(string) (Version, error) {
	return func(string) (Version, error) { return v, nil }
}

func TestFindOnFakeSitePackages(t *testing.T) {
	cases := []struct {
		name    string
		gpu     bool
		read    func(string) (Version, error)
		usable  map[string]bool
		reasons map[string]string
	}{
		{"no gpu", false, readAs(Version{0, 90}),
			map[string]bool{"cpu": true, "cuda": false}, map[string]string{"cuda": "no NVIDIA GPU here"}},
		{"gpu, newer minor", true, readAs(Version{0, 90}), map[string]bool{"cpu": true, "cuda": true}, nil},
		{"gpu, same version", true, readAs(Version{APIMajor, APIMinor}), map[string]bool{"cpu": true, "cuda": true}, nil},
		{"gpu, older minor", true, readAs(Version{0, 40}), map[string]bool{"cpu": false, "cuda": false},
			map[string]string{"cuda": "speaks PJRT C API 0.40, older than the 0.83"}},
		{"gpu, other major", true, readAs(Version{1, 2}), map[string]bool{"cpu": false, "cuda": false},
			map[string]string{"cpu": "speaks PJRT C API 1.2, and GoMLX v0.26.0 speaks 0.83"}},
		{"gpu, not loadable", true, ReadVersion, map[string]bool{"cpu": false, "cuda": false},
			map[string]string{"cuda": "cannot be loaded"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			found := fakeSearch(c.gpu, c.read).Find()
			if len(found) != 2 {
				t.Fatalf("found %d plugins, want the go-xla cpu one and the jax cuda one: %+v", len(found), found)
			}
			cpu, cuda := found[0], found[1]
			if cpu.Platform != "cpu" || cpu.Source != SourceEnv || filepath.Base(cpu.Path) != "pjrt_c_api_cpu_plugin.so" {
				t.Errorf("first plugin %+v, want the cpu plugin from PJRT_PLUGIN_LIBRARY_PATH", cpu)
			}
			want := filepath.Join("testdata", "site-packages", "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
			if cuda.Platform != "cuda" || cuda.Path != want || cuda.Source != SourcePython || cuda.Package != "jax-cuda13-pjrt 0.11.2" {
				t.Errorf("second plugin %+v, want cuda at %s from jax-cuda13-pjrt 0.11.2", cuda, want)
			}
			for _, p := range found {
				if p.Usable() != c.usable[p.Platform] {
					t.Errorf("%s usable = %v (%v), want %v", p.Platform, p.Usable(), p.Err, c.usable[p.Platform])
				}
				if r := c.reasons[p.Platform]; r != "" && (p.Err == nil || !strings.Contains(p.Err.Error(), r)) {
					t.Errorf("%s: reason %v, want it to say %q", p.Platform, p.Err, r)
				}
				if !strings.Contains(p.Describe(), p.Path) {
					t.Errorf("Describe() = %q does not name the path", p.Describe())
				}
			}
		})
	}
}

func TestLookup(t *testing.T) {
	p, err := fakeSearch(true, readAs(Version{0, 90})).Lookup("cuda")
	if err != nil || p.Platform != "cuda" || p.Version != (Version{0, 90}) {
		t.Fatalf("Lookup(cuda) = %+v, %v; want the jax cuda plugin at 0.90", p, err)
	}
	_, err = fakeSearch(false, readAs(Version{0, 90})).Lookup("cuda")
	if err == nil || !strings.Contains(err.Error(), "xla_cuda_plugin.so") || !strings.Contains(err.Error(), "no NVIDIA GPU") {
		t.Errorf("Lookup(cuda) without a GPU: %v; want the candidate and why it is unusable", err)
	}
	_, err = fakeSearch(true, readAs(Version{0, 90})).Lookup("rocm")
	if err == nil || !strings.Contains(err.Error(), "no rocm PJRT plugin found") || !strings.Contains(err.Error(), "jax_plugins") {
		t.Errorf("Lookup(rocm) = %v; want 'no rocm PJRT plugin found' with the folders searched", err)
	}
	failing := func(string) (Version, error) { return Version{}, errors.New("boom") }
	if _, err := fakeSearch(true, failing).Lookup("cpu"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Lookup(cpu) with a failing probe = %v, want the probe's error", err)
	}
}

// Without PJRT_PLUGIN_LIBRARY_PATH, GoMLX's default folders are searched, then LD_LIBRARY_PATH.
func TestDefaultFolders(t *testing.T) {
	s := Search{Home: "/home/u", LDLibraryPath: "/opt/lib::/x"}
	got := strings.Join(s.Searched(), ",")
	want := "/home/u/.local/lib/go-xla,/usr/local/lib/go-xla,/opt/lib,/x"
	if got != want {
		t.Errorf("Searched() = %s, want %s", got, want)
	}
}

func TestPlatformOf(t *testing.T) {
	for path, want := range map[string]string{
		"/a/pjrt_c_api_cuda_plugin.so":                  "cuda",
		"/a/pjrt-plugin-cpu.so":                         "cpu",
		"/sp/jax_plugins/xla_cuda12/xla_cuda_plugin.so": "cuda",
		"/sp/jax_plugins/xla_rocm7/pjrt_rocm.so":        "rocm",
	} {
		if got := platformOf(path); got != want {
			t.Errorf("platformOf(%s) = %s, want %s", path, got, want)
		}
	}
}
