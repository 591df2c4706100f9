package sweep

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"
)

const twoSeedSpec = `name = "tiny"
seeds = [1, 2]
[data]
name = "swissroll"
[schedule]
name = "linear"
T = 20
[network]
hidden = [8]
embed = 4
[train]
steps = 5
batch = 8
`

// newSweep makes a sealed two-trial sweep folder under a fresh key.
func newSweep(t *testing.T) (dir string, f *Folder) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	base := t.TempDir()
	t.Chdir(base)
	specPath := filepath.Join(base, "tiny.toml")
	runner := filepath.Join(base, "runner-src")
	os.WriteFile(specPath, []byte(twoSeedSpec), 0o644)
	os.WriteFile(runner, []byte("#!/bin/sh\necho ran\n"), 0o755)
	dir = filepath.Join(base, "sw")
	f, err := Create(dir, []string{specPath}, nil, "", 2, runner, Slurm{GraceSecs: 120})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatalf("a fresh sweep folder is refused: %v", err)
	}
	return dir, f
}

// TestOpenChecksBeyondTheSeal: what the seal covers is checked again on its own, so a
// manifest that is sealed (by this user's older runner, or a leaked key) still cannot point
// outside the folder, swap the binary or inflate the trials.
func TestOpenChecksBeyondTheSeal(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string, f *Folder)
		want   string
	}{
		{"runner path leaves the folder", func(t *testing.T, dir string, f *Folder) {
			f.Runner = "../../../../../../bin/sh"
			f.Save()
		}, "runner"},
		{"spec copy outside the folder with its sha256", func(t *testing.T, dir string, f *Folder) {
			b, _ := os.ReadFile("/etc/passwd")
			f.Specs[0].Copy, f.Specs[0].SHA256 = "specs/1/../../../../../../../../etc/passwd", sha256Hex(b)
			f.Save()
		}, "spec copy"},
		{"spec copy symlinked outside the folder", func(t *testing.T, dir string, f *Folder) {
			cp := filepath.Join(dir, f.Specs[0].Copy)
			outside := filepath.Join(t.TempDir(), "same.toml")
			os.WriteFile(outside, []byte(twoSeedSpec), 0o644)
			os.Remove(cp)
			os.Symlink(outside, cp)
		}, "outside"},
		{"trials raised", func(t *testing.T, dir string, f *Folder) { f.Trials = 100000000; f.Save() }, "expand to 2"},
		{"trials lowered", func(t *testing.T, dir string, f *Folder) { f.Trials = 1; f.Save() }, "expand to 2"},
		{"sets that add seeds", func(t *testing.T, dir string, f *Folder) { f.Sets = []string{"seeds=[1,2,3]"}; f.Save() }, "expand to 3"},
		{"replaced binary", func(t *testing.T, dir string, f *Folder) {
			os.WriteFile(filepath.Join(dir, "bin", "runner"), []byte("#!/bin/sh\necho other\n"), 0o755)
		}, "replaced"},
		{"binary is a FIFO", func(t *testing.T, dir string, f *Folder) {
			os.Remove(filepath.Join(dir, "bin", "runner"))
			mkfifo(t, filepath.Join(dir, "bin", "runner"))
		}, "not a regular file"},
		{"shards symlinked elsewhere", func(t *testing.T, dir string, f *Folder) {
			os.Remove(filepath.Join(dir, "shards"))
			os.Symlink(t.TempDir(), filepath.Join(dir, "shards"))
		}, "shards"},
		{"a Slurm option with a newline", func(t *testing.T, dir string, f *Folder) {
			f.Slurm.Partition = "cpu\ntouch x"
			f.Save()
		}, "--partition"},
		{"sweep.json a symlink to a sealed one elsewhere", func(t *testing.T, dir string, f *Folder) {
			other := t.TempDir()
			b, _ := os.ReadFile(filepath.Join(dir, ManifestName))
			os.WriteFile(filepath.Join(other, ManifestName), b, 0o644)
			os.Remove(filepath.Join(dir, ManifestName))
			os.Symlink(filepath.Join(other, ManifestName), filepath.Join(dir, ManifestName))
		}, "outside"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, f := newSweep(t)
			tc.tamper(t, dir, f)
			_, err := Open(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want an error about %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// TestSealNeedsTheSubmittersKey: another user's key (or none) cannot open a sweep folder, a
// key others can read is refused, and any edit of sweep.json breaks its seal.
func TestSealNeedsTheSubmittersKey(t *testing.T) {
	dir, _ := newSweep(t)
	key, err := KeyPath()
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the key %s: %v, mode %v; want 0600", key, err, st.Mode().Perm())
	}
	b, _ := os.ReadFile(filepath.Join(dir, ManifestName))
	os.WriteFile(filepath.Join(dir, ManifestName), []byte(strings.Replace(string(b), `"trials": 2`, `"trials": 2 `, 1)), 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "changed after submission") {
		t.Errorf("a sweep.json with one byte added: %v", err)
	}
	os.WriteFile(filepath.Join(dir, ManifestName), b, 0o644)
	os.Chmod(key, 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key others can read: %v", err)
	}
	os.Chmod(key, 0o600)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "no sweep key") {
		t.Errorf("without the key: %v", err)
	}
	if _, _, err := loadKey(true); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "sealed by another user") {
		t.Errorf("under another key: %v", err)
	}
}

// TestCreateLeavesNothingWhenRefused: a sweep refused for a value, or failing to copy its
// runner, leaves no folder and no temporary one.
func TestCreateLeavesNothingWhenRefused(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	base := t.TempDir()
	t.Chdir(base)
	specPath := filepath.Join(base, "tiny.toml")
	os.WriteFile(specPath, []byte(twoSeedSpec), 0o644)
	if _, err := Create(filepath.Join(base, "sw"), []string{specPath}, nil, "", 2, "/no/such/runner", Slurm{GraceSecs: 120}); err == nil {
		t.Fatal("a missing runner binary was accepted")
	}
	if _, err := Create(filepath.Join(base, "sw2"), []string{specPath}, nil, "", 2, specPath, Slurm{GraceSecs: 120, Mem: "4G\n"}); err == nil {
		t.Fatal("a newline in --mem was accepted")
	}
	entries, _ := os.ReadDir(base)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func mkfifo(t *testing.T, p string) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o755); err != nil {
		t.Skip("no FIFOs here:", err)
	}
}
