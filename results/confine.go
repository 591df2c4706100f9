package results

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrOutside is wrapped by the errors of Confine and OpenConfined for a path that leaves the
// folder it must stay in.
var ErrOutside = errors.New("path leaves its folder")

// Confine resolves path (relative paths against root) with every symlink followed, and
// returns the result if it lies inside root, which is resolved the same way. A path read
// from a database, a sweep folder or a symlink names a file its writer meant to be inside
// one folder; following it anywhere else would let whoever edited the database read any file
// the user can. The path need not exist; its deepest existing parent is resolved.
func Confine(root, path string) (string, error) {
	realRoot, err := resolveExisting(root)
	if err != nil {
		return "", fmt.Errorf("results: folder %q: %w", root, err)
	}
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	real, err := resolveExisting(p)
	if err != nil {
		return "", fmt.Errorf("results: %q: %w", path, err)
	}
	rel, err := filepath.Rel(realRoot, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("results: %q resolves to %q, outside %q: %w", path, real, realRoot, ErrOutside)
	}
	return real, nil
}

// resolveExisting makes p absolute and follows the symlinks of its deepest existing prefix;
// the parts below it, which do not exist yet, are appended as they are (after Clean, so no
// ".." survives).
func resolveExisting(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	cur := abs
	for {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", err
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
		cur = parent
	}
}

// OpenConfined opens path for reading if it resolves inside root (see Confine), is a regular
// file (not a FIFO, device or folder), and is at most maxBytes long. The size is checked on
// the opened file, so a file swapped in after the check is still measured.
func OpenConfined(root, path string, maxBytes int64) (*os.File, error) {
	real, err := Confine(root, path)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK keeps a FIFO from blocking the open; it is refused just below. O_NOFOLLOW
	// refuses a last component swapped for a symlink since Confine resolved it.
	f, err := os.OpenFile(real, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	// A folder above it may have been swapped too: where the kernel says which file was
	// opened, that file must still be inside root.
	if opened, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil {
		if _, err := Confine(root, opened); err != nil {
			f.Close()
			return nil, err
		}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("results: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("results: %q is not a regular file (%s)", path, st.Mode().Type())
	}
	if st.Size() > maxBytes {
		f.Close()
		return nil, fmt.Errorf("results: %q is %d bytes, more than the %d allowed", path, st.Size(), maxBytes)
	}
	return f, nil
}

// ReadConfined reads the whole of a file that OpenConfined accepts, never more than maxBytes
// even if the file grows while it is read.
func ReadConfined(root, path string, maxBytes int64) ([]byte, error) {
	f, err := OpenConfined(root, path, maxBytes)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("results: %q grew past the %d bytes allowed while it was read", path, maxBytes)
	}
	return b, nil
}
