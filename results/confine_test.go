package results

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestConfine(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	outside := filepath.Join(dir, "secret")
	must(t, os.MkdirAll(filepath.Join(root, "runs", "1"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "runs", "1", "a.png"), []byte("png"), 0o644))
	must(t, os.WriteFile(outside, []byte("secret"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(root, "runs", "1", "link.png")))
	must(t, os.Symlink(filepath.Join(root, "runs"), filepath.Join(root, "inner-link")))
	for _, c := range []struct {
		path string
		ok   bool
	}{
		{"runs/1/a.png", true},
		{filepath.Join(root, "runs/1/a.png"), true},
		{"runs/1/not-yet.png", true},
		{"inner-link/1/a.png", true},
		{"runs/1/link.png", false},
		{"../secret", false},
		{"runs/../../secret", false},
		{outside, false},
		{"/etc/passwd", false},
		{"..", false},
	} {
		_, err := Confine(root, c.path)
		if c.ok && err != nil {
			t.Errorf("Confine(%q): %v, want accepted", c.path, err)
		}
		if !c.ok && !errors.Is(err, ErrOutside) {
			t.Errorf("Confine(%q): %v, want ErrOutside", c.path, err)
		}
	}
}

func TestReadConfinedRefusesSpecialAndLargeFiles(t *testing.T) {
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "big"), make([]byte, 100), 0o644))
	must(t, syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	must(t, os.Mkdir(filepath.Join(root, "dir"), 0o755))
	if b, err := ReadConfined(root, "big", 100); err != nil || len(b) != 100 {
		t.Fatalf("100 bytes at a 100-byte cap: %d bytes, %v", len(b), err)
	}
	for name, want := range map[string]string{"big": "more than", "fifo": "not a regular file", "dir": "not a regular file"} {
		if _, err := ReadConfined(root, name, 99); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadConfined(%s): %v, want an error with %q", name, err, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzConfine: any byte string as a stored path either resolves inside the root or is
// refused, and ReadConfined never returns a byte of a file outside it, whatever the symlinks
// inside the root point to.
func FuzzConfine(f *testing.F) {
	dir := f.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "runs", "1"), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("SECRET"), 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "runs", "1", "a.png"), []byte("inside"), 0o644); err != nil {
		f.Fatal(err)
	}
	for name, target := range map[string]string{
		"out-abs": filepath.Join(dir, "secret"), "out-rel": "../secret", "out-dir": dir, "zero": "/dev/zero",
		"runs/1/up": "../../..", "in": "runs/1/a.png", "loop": "loop", "runs/1/self": ".",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			f.Fatal(err)
		}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"runs/1/a.png", "in", "../secret", "out-abs", "out-rel", "out-dir/secret", "zero",
		"runs/1/up/secret", "runs/1/self/../../../secret", filepath.Join(dir, "secret"), "/etc/passwd", "loop/x", "", ".",
		"..", "a\x00b", "//", "runs/1/../../root/runs/1/a.png", "runs/1/a.png/.."} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		real, err := Confine(root, path)
		if err == nil && real != realRoot && !strings.HasPrefix(real, realRoot+string(filepath.Separator)) {
			t.Fatalf("Confine(%q) = %q, outside %q", path, real, realRoot)
		}
		b, err := ReadConfined(root, path, 64)
		if err == nil && string(b) != "inside" {
			t.Fatalf("ReadConfined(%q) read %q", path, b)
		}
	})
}
