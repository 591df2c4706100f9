// Package atomicfile writes files the one way this project writes them: a file that replaces
// another goes through a new temporary file beside it, synced to disk and renamed over the old
// one, so that a reader (or a process that starts after a crash) sees the old file or the whole
// new one, never a part; and a copy is synced before it counts as made.
//
// The temporary file is created under a new, unpredictable name (os.CreateTemp), so a symlink
// planted at the destination or at an older temporary name is replaced, never written through.
package atomicfile

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// File is a file being written in place of Path: its contents go to a temporary file beside
// Path, which Commit renames over Path and Abort removes.
type File struct {
	tmp  *os.File
	path string
	done bool
}

// Create starts a file to replace path (which need not exist). The caller writes to it and
// then calls Commit, or Abort to leave path as it was; Abort after Commit does nothing, so it
// can be deferred.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &File{tmp: f, path: path}, nil
}

// TempName is the temporary file's path, for code that must remove it on a signal.
func (f *File) TempName() string { return f.tmp.Name() }

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) { return f.tmp.Write(p) }

// Commit gives the file mode perm (os.CreateTemp makes it private), syncs it to disk and
// renames it over the destination.
func (f *File) Commit(perm os.FileMode) error {
	return f.finish(perm, os.Rename)
}

// CommitNew is Commit for a destination that must not exist yet: the file is linked into
// place, which fails (with an error that is fs.ErrExist) when something is already there, so
// of two processes that race to make the same file, one makes it and the other can read it.
func (f *File) CommitNew(perm os.FileMode) error {
	return f.finish(perm, os.Link)
}

// finish syncs and closes the temporary file and puts it at the destination with place;
// the temporary name is gone afterwards, whatever happened.
func (f *File) finish(perm os.FileMode, place func(from, to string) error) error {
	if f.done {
		return errors.New("atomicfile: " + f.path + " already committed or aborted")
	}
	f.done = true
	tmp := f.tmp.Name()
	defer os.Remove(tmp)
	err := errors.Join(f.tmp.Chmod(perm), f.tmp.Sync())
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return place(tmp, f.path)
}

// Abort removes the temporary file, leaving the destination as it was.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// Write replaces path with data (mode perm) atomically, as Create and Commit do.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit(perm)
}

// WriteNew creates dst, which must not exist yet, with what r yields (mode perm), and syncs
// it to disk before it returns the number of bytes written. A cancelled ctx stops it between
// two reads. On an error dst is removed. Unlike Write, dst is visible while it is written:
// WriteNew is for folders that no reader looks at until they are complete (a staging folder
// renamed into place when every file is in it).
func WriteNew(ctx context.Context, dst string, r io.Reader, perm os.FileMode) (n int64, err error) {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	if n, err = io.Copy(out, ctxReader{ctx, r}); err != nil {
		return n, err
	}
	return n, out.Sync()
}

// Copy copies the file src to dst, which must not exist yet, as WriteNew does.
func Copy(ctx context.Context, src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	_, err = WriteNew(ctx, dst, in, perm)
	return err
}

// ctxReader stops a copy when its context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
