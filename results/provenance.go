package results

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Provenance collects what is needed to tell where a run's numbers came from: the git
// commit and whether the work tree was dirty (when run inside one), the Go version and every
// module version of the binary, the host, CPU, OS and architecture.
func Provenance() map[string]string {
	env := map[string]string{
		"go.version": runtime.Version(),
		"os":         runtime.GOOS,
		"arch":       runtime.GOARCH,
		"cpus":       strconv.Itoa(runtime.NumCPU()),
		"cpu.model":  cpuModel(),
	}
	if h, err := os.Hostname(); err == nil {
		env["host"] = h
	}
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		env["git.commit"] = strings.TrimSpace(string(out))
		dirty := "false"
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
			dirty = "true"
		}
		env["git.dirty"] = dirty
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		env["module.main"] = bi.Main.Path + "@" + bi.Main.Version
		for _, d := range bi.Deps {
			v := d.Version
			if d.Replace != nil {
				v += " => " + d.Replace.Path + "@" + d.Replace.Version
			}
			env["module."+d.Path] = v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.modified" || s.Key == "CGO_ENABLED" {
				env["build."+s.Key] = s.Value
			}
		}
	}
	return env
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
