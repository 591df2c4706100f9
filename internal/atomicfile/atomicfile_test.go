package atomicfile

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entries lists a folder's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestWriteReplacesWholeAndNotThroughSymlinks: Write replaces the file with the new bytes and
// mode, leaves no temporary file, and replaces a symlink planted at the path instead of
// writing through it.
func TestWriteReplacesWholeAndNotThroughSymlinks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	for _, data := range []string{"first", "second, longer"} {
		if err := Write(path, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != data {
			t.Errorf("read %q, want %q", b, data)
		}
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("wrote through the symlink: %q", b)
	}
	if st, err := os.Lstat(path); err != nil || !st.Mode().IsRegular() {
		t.Errorf("after Write the path is %v (%v), want a regular file", st, err)
	}
	if got := entries(t, dir); len(got) != 1 || got[0] != "f.json" {
		t.Errorf("folder holds %v, want only f.json", got)
	}
}

// TestAbortKeepsTheOldFile: a file aborted (or never committed) leaves the old one and no
// temporary file; Commit after Abort is an error.
func TestAbortKeepsTheOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.html")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(f.TempName()), ".r.html.tmp-") || filepath.Dir(f.TempName()) != dir {
		t.Errorf("temporary file %s, want .r.html.tmp-* beside the destination", f.TempName())
	}
	if _, err := f.Write([]byte("half")); err != nil {
		t.Fatal(err)
	}
	f.Abort()
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("after Abort: %q", b)
	}
	if err := f.Commit(0o644); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Errorf("folder holds %v", got)
	}
}

// TestWriteNewCreatesOnlyNewFilesAndCleansUp: WriteNew refuses a path that exists, and a copy
// stopped by its context leaves nothing behind.
func TestWriteNewCreatesOnlyNewFilesAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "dst")
	if err := Copy(context.Background(), src, dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "payload" {
		t.Errorf("copy holds %q", b)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o755 {
		t.Errorf("copy's mode %v, want 0755", st.Mode().Perm())
	}
	if err := Copy(context.Background(), src, dst, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Errorf("copy over an existing file: %v, want ErrExist", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stopped := filepath.Join(dir, "stopped")
	if err := Copy(ctx, src, stopped, 0o644); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled copy: %v", err)
	}
	if _, err := os.Lstat(stopped); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a cancelled copy left %s (%v)", stopped, err)
	}
}

// TestCommitNewKeepsWhatIsThere: of two files committed with CommitNew to one path, the first
// stays and the second gets an error that is fs.ErrExist; neither leaves a temporary file.
func TestCommitNewKeepsWhatIsThere(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	a, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("a"))
	b.Write([]byte("b"))
	if err := a.CommitNew(0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.CommitNew(0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second CommitNew: %v, want ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "a" {
		t.Errorf("key holds %q, want the first", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Errorf("folder holds %v", got)
	}
}
