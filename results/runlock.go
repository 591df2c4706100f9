package results

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// RunLockFile is the file in a run's artifact folder on which the process that owns the run
// holds an exclusive flock for as long as it runs; the kernel drops the lock when the
// process dies, however it dies. Whoever else would change the run's folder (a resume, a
// merge) takes the same lock first.
const RunLockFile = "run.lock"

// ErrLocked is returned by LockRunFolder when a live process holds the lock.
var ErrLocked = errors.New("locked by a live process")

// LockRunFolder takes the lock of the run whose artifact folder is dir (which must exist)
// without waiting, creating the lock file if needed; ErrLocked if a live process holds it.
// Closing the returned file releases the lock.
func LockRunFolder(dir string) (*os.File, error) {
	return tryLock(filepath.Join(dir, RunLockFile))
}

// tryLock opens (creating it) the file at path and takes an exclusive flock on it without
// waiting.
func tryLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}

// processAlive reports whether a process with this pid exists on this host.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
