package pjrtplugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Where a plugin was found.
const (
	SourceEnv       = "PJRT_PLUGIN_LIBRARY_PATH"
	SourceGoXLA     = "go-xla folder"
	SourceLDPath    = "LD_LIBRARY_PATH"
	SourcePython    = "python site-packages"
	SitePackagesEnv = "DDPM_SITE_PACKAGES"
)

// Plugin is one PJRT plugin library found on this machine.
type Plugin struct {
	Platform string  // what it runs on: "cuda", "cpu", "rocm", ...
	Path     string  // the library
	Source   string  // where it was found (one of the Source constants)
	Package  string  // the Python distribution that installed it, e.g. "jax-cuda13-pjrt 0.11.2", if known
	Version  Version // the PJRT C API version it speaks, when it could be read
	Err      error   // why it cannot be used here; nil when it can
}

// Usable says whether GoMLX can load the plugin here.
func (p Plugin) Usable() bool { return p.Err == nil }

// Describe is one line about the plugin: its platform, path and where it came from, then
// its API version or why it is unusable.
func (p Plugin) Describe() string {
	if p.Err != nil {
		return fmt.Sprintf("%s %s: unusable: %v", p.Platform, p.origin(), p.Err)
	}
	return fmt.Sprintf("%s %s, PJRT C API %s", p.Platform, p.origin(), p.Version)
}

// origin is the plugin's path and where it was found.
func (p Plugin) origin() string {
	from := p.Source
	if p.Package != "" {
		from += ", " + p.Package
	}
	return fmt.Sprintf("%s (%s)", p.Path, from)
}

// Search is where and how plugins are looked for. FromEnvironment fills it from this
// process's environment; tests set the fields directly.
type Search struct {
	// LibraryPath is $PJRT_PLUGIN_LIBRARY_PATH; when set (LibraryPathSet), its folders
	// replace GoMLX's default folders, as in GoMLX.
	LibraryPath    string
	LibraryPathSet bool
	Home           string   // for ~/.local/lib/go-xla
	LDLibraryPath  string   // $LD_LIBRARY_PATH
	SitePackages   []string // Python site-packages folders, in order
	HasGPU         func() bool
	ReadVersion    func(path string) (Version, error)
}

// FromEnvironment is the search of this process: its environment variables, and the
// site-packages of the python3 interpreters here ($DDPM_SITE_PACKAGES, a colon-separated
// list, replaces those).
func FromEnvironment() Search {
	lp, set := os.LookupEnv(SourceEnv)
	home, _ := os.UserHomeDir()
	s := Search{LibraryPath: lp, LibraryPathSet: set, Home: home, LDLibraryPath: os.Getenv("LD_LIBRARY_PATH"),
		HasGPU: HasNvidiaGPU, ReadVersion: ReadVersion}
	if v, ok := os.LookupEnv(SitePackagesEnv); ok {
		s.SitePackages = splitList(v)
	} else {
		s.SitePackages = pythonSitePackages(home)
	}
	return s
}

func splitList(v string) []string {
	return slices.DeleteFunc(strings.Split(v, ":"), func(p string) bool { return p == "" })
}

// Find lists the plugins found, in search order, each probed. A library found twice (by
// two routes to the same file) is listed once.
func (s Search) Find() []Plugin {
	var out []Plugin
	seen := map[string]bool{}
	add := func(p Plugin) {
		key := p.Path
		if real, err := filepath.EvalSymlinks(p.Path); err == nil {
			key = real
		}
		if seen[key] {
			return
		}
		seen[key] = true
		p.Version, p.Err = s.check(p)
		out = append(out, p)
	}
	for _, f := range s.libraryFolders() {
		for _, path := range globAll(f.dir, goXLAPatterns) {
			add(Plugin{Platform: platformOf(path), Path: path, Source: f.source})
		}
	}
	for _, sp := range s.SitePackages {
		for _, path := range globAll(filepath.Join(sp, "jax_plugins"), jaxPatterns) {
			add(Plugin{Platform: platformOf(path), Path: path, Source: SourcePython, Package: wheelOf(sp, path)})
		}
	}
	return out
}

// Searched lists the folders Find looks in, for error messages.
func (s Search) Searched() []string {
	var out []string
	for _, f := range s.libraryFolders() {
		out = append(out, f.dir)
	}
	for _, sp := range s.SitePackages {
		out = append(out, filepath.Join(sp, "jax_plugins"))
	}
	return out
}

// Lookup returns the first usable plugin for a platform (see Choose).
func (s Search) Lookup(platform string) (Plugin, error) {
	return Choose(s.Find(), platform, s.Searched())
}

// Choose returns the first usable plugin for a platform among those found. An error names
// every candidate for the platform and why it is unusable, or the folders searched if there
// is none.
func Choose(found []Plugin, platform string, searched []string) (Plugin, error) {
	var reasons []string
	for _, p := range found {
		if p.Platform != platform {
			continue
		}
		if p.Usable() {
			return p, nil
		}
		reasons = append(reasons, fmt.Sprintf("%s: %v", p.origin(), p.Err))
	}
	if len(reasons) == 0 {
		return Plugin{}, fmt.Errorf("no %s PJRT plugin found (searched %s)", platform, strings.Join(searched, ", "))
	}
	return Plugin{}, errors.New(strings.Join(reasons, "; "))
}

// check reads a plugin's API version and says why it cannot be used here, or nil. A CUDA
// plugin is not loaded where there is no GPU (its libraries need the driver).
func (s Search) check(p Plugin) (Version, error) {
	if p.Platform == "cuda" && s.HasGPU != nil && !s.HasGPU() {
		return Version{}, errors.New("no NVIDIA GPU here (no /dev/nvidia*, and nvidia-smi is missing or lists no GPU)")
	}
	read := s.ReadVersion
	if read == nil {
		read = ReadVersion
	}
	v, err := read(p.Path)
	if err != nil {
		return v, err
	}
	return v, Compatible(v)
}

type folder struct{ dir, source string }

func (s Search) libraryFolders() []folder {
	var out []folder
	if s.LibraryPathSet {
		for _, d := range splitList(s.LibraryPath) {
			out = append(out, folder{d, SourceEnv})
		}
	} else {
		if s.Home != "" {
			out = append(out, folder{filepath.Join(s.Home, ".local", "lib", "go-xla"), SourceGoXLA})
		}
		out = append(out, folder{"/usr/local/lib/go-xla", SourceGoXLA})
	}
	for _, d := range splitList(s.LDLibraryPath) {
		out = append(out, folder{d, SourceLDPath})
	}
	return out
}

// The file names GoMLX recognises as plugins, and those of JAX's plugin wheels (inside
// jax_plugins/<name>/).
var (
	goXLAPatterns = []string{"pjrt_c_api_*_plugin.so", "pjrt-plugin-*.so", "pjrt_plugin_*.so"}
	jaxPatterns   = []string{"*/xla_*_plugin.so", "*/pjrt*.so"}
)

func globAll(dir string, patterns []string) []string {
	var out []string
	for _, pat := range patterns {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, path := range m {
			if !slices.Contains(out, path) {
				out = append(out, path)
			}
		}
	}
	return out
}

var platformPatterns = []*regexp.Regexp{
	regexp.MustCompile(`^pjrt_c_api_(.+)_plugin\.so$`),
	regexp.MustCompile(`^pjrt[-_]plugin[-_](.+)\.so$`),
	regexp.MustCompile(`^xla_(.+)_plugin\.so$`),
}

// platformOf names the platform of a plugin from its file name, else from its jax_plugins
// folder (xla_cuda13 -> cuda).
func platformOf(path string) string {
	base := filepath.Base(path)
	for _, re := range platformPatterns {
		if m := re.FindStringSubmatch(base); m != nil {
			return m[1]
		}
	}
	dir := strings.TrimPrefix(filepath.Base(filepath.Dir(path)), "xla_")
	return strings.TrimRight(dir, "0123456789")
}

// wheelOf names the Python distribution that installed a jax_plugins library, from the
// dist-info folder beside it (jax_cuda13_pjrt-0.11.2.dist-info for jax_plugins/xla_cuda13).
func wheelOf(sitePackages, path string) string {
	pkg := filepath.Base(filepath.Dir(path)) // xla_cuda13
	suffix := strings.TrimPrefix(pkg, "xla_")
	m, _ := filepath.Glob(filepath.Join(sitePackages, "jax_"+suffix+"_pjrt-*.dist-info"))
	if len(m) == 0 {
		return ""
	}
	name := strings.TrimSuffix(filepath.Base(m[0]), ".dist-info")
	dist, version, _ := strings.Cut(name, "-")
	return strings.ReplaceAll(dist, "_", "-") + " " + version
}

// HasNvidiaGPU says whether this machine has an NVIDIA GPU: a /dev/nvidia* device, or an
// nvidia-smi that lists one.
var HasNvidiaGPU = sync.OnceValue(func() bool {
	if m, _ := filepath.Glob("/dev/nvidia[0-9]*"); len(m) > 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nvidia-smi", "-L").Output()
	return err == nil && strings.Contains(string(out), "GPU ")
})

// pythonSitePackages lists the site-packages folders of the python3 on PATH and of
// /usr/bin/python3 (asked once each), then the usual places that exist, without repeats.
func pythonSitePackages(home string) []string {
	var out []string
	add := func(dirs ...string) {
		for _, d := range dirs {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() && !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	const ask = "import site, sys\nfor p in site.getsitepackages() + [site.getusersitepackages()]: print(p)"
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		b, err := exec.CommandContext(ctx, py, "-c", ask).Output()
		cancel()
		if err == nil {
			add(strings.Fields(string(b))...)
		}
	}
	var globs []string
	for _, prefix := range []string{os.Getenv("VIRTUAL_ENV"), os.Getenv("CONDA_PREFIX"), filepath.Join(home, ".local"), "/usr/local", "/usr", "/opt/conda"} {
		if prefix != "" {
			globs = append(globs, filepath.Join(prefix, "lib", "python3*", "site-packages"), filepath.Join(prefix, "lib", "python3*", "dist-packages"))
		}
	}
	globs = append(globs, "/usr/lib/python3/dist-packages")
	for _, g := range globs {
		m, _ := filepath.Glob(g)
		add(m...)
	}
	return out
}
