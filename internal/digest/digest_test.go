package digest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "abc")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The SHA-256 of "abc" from FIPS 180-2's examples.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got, err := File(p); err != nil || got != want {
		t.Errorf("File(abc) = %q, %v; want %q", got, err, want)
	}
	if _, err := File(dir); err == nil {
		t.Error("a folder was hashed; want it refused")
	}
	if _, err := File(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file was hashed")
	}
}
