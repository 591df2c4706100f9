package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// A run is owned by exactly one live process. The owner holds an exclusive flock on the
// run's lock file for as long as it runs; the kernel drops the lock when the process dies,
// however it dies, so on the owner's host "lock free" means "owner gone" at once. From
// another host (a shared filesystem, where flock may not be honoured) the heartbeat tells:
// the owner refreshes it every HeartbeatEvery, from its own goroutine, whatever phase the run
// is in, and a heartbeat older than StaleHeartbeat means the owner is gone.

// HeartbeatEvery is how often a live run refreshes its heartbeat.
const HeartbeatEvery = 10 * time.Second

// StaleHeartbeat is how old the heartbeat of a run owned by another host must be before the
// run counts as crashed.
const StaleHeartbeat = 60 * time.Second

// lockName is the lock file in a run's artifact folder.
const lockName = results.RunLockFile

// runLock is a held lock on a run.
type runLock struct{ f *os.File }

// errLocked means another live process holds the run's lock.
var errLocked = results.ErrLocked

// lockRun takes the run's lock without waiting, making the run's folder if needed;
// errLocked if a live process holds it.
func lockRun(dir string) (*runLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := results.LockRunFolder(dir)
	if err != nil {
		return nil, err
	}
	return &runLock{f: f}, nil
}

func (l *runLock) release() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the descriptor drops the flock
		l.f = nil
	}
}

// heartbeat refreshes a run's heartbeat every interval until stop is called. It runs beside
// whatever the run is doing (a long metric included), so a live run never looks crashed.
func heartbeat(store *results.Store, id int64, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				// A failed beat (a busy or full disk) is retried at the next tick; the run
				// itself reports the failures that matter when it writes its results.
				_ = store.Heartbeat(id)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// heartbeatAge is how long ago a run's owner last refreshed its heartbeat; ok is false when
// the record holds no readable time.
func heartbeatAge(r *results.Run) (age time.Duration, ok bool) {
	hb, err := time.Parse(time.RFC3339Nano, r.Heartbeat)
	if err != nil {
		return 0, false
	}
	return time.Since(hb), true
}

// ownerGone reports whether the process that owns a running run has ended. On the run's
// own host its lock tells at once (until the owner has created the lock file, its pid
// does); for another host, a heartbeat older than StaleHeartbeat. When the owner is gone
// on this host, the returned lock is held by the caller, who releases it.
func ownerGone(r *results.Run, runDir string) (gone bool, lock *runLock, err error) {
	if r.Host == "" || r.Host != results.Host() {
		age, ok := heartbeatAge(r)
		return !ok || age >= StaleHeartbeat, nil, nil
	}
	if _, err := os.Stat(filepath.Join(runDir, lockName)); errors.Is(err, os.ErrNotExist) {
		// A run is recorded a moment before its owner creates the lock file.
		return r.Pid <= 0 || unix.Kill(r.Pid, 0) != nil, nil, nil
	}
	l, err := lockRun(runDir)
	if errors.Is(err, errLocked) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	return true, l, nil
}

// hasCheckpoint reports whether a run's folder holds a checkpoint file to resume from.
func hasCheckpoint(runDir string) bool {
	bins, _ := filepath.Glob(filepath.Join(runDir, "checkpoint", "checkpoint-*.bin"))
	return len(bins) > 0
}

// Reconcile finds the runs recorded as running whose process is gone (killed, crashed, or
// unable to record its end, say on a full disk) and records the truth: interrupted when a
// checkpoint is there to resume from (a sample run resumes from its parent's), failed
// otherwise. It returns the ids it changed.
// Runs of other hosts are judged by their heartbeat's age.
func Reconcile(store *results.Store) ([]int64, error) {
	root := store.ArtifactRoot()
	runs, err := store.Runs(results.Filter{Status: results.StatusRunning})
	if err != nil {
		return nil, err
	}
	var changed []int64
	for _, r := range runs {
		dir := filepath.Join(root, strconv.FormatInt(r.ID, 10))
		gone, lock, err := ownerGone(r, dir)
		if err != nil || !gone {
			continue
		}
		status := results.StatusFailed
		msg := fmt.Sprintf("crashed: the process (pid %d on %s) ended without recording how the run ended, and left no checkpoint", r.Pid, r.Host)
		if hasCheckpoint(dir) || isSampleRun(r) {
			status = results.StatusInterrupted
			msg = fmt.Sprintf("crashed: the process (pid %d on %s) ended without recording how the run ended; continue it with `runner resume %d`", r.Pid, r.Host, r.ID)
		}
		err = store.EndCrashed(r.ID, r, status, msg)
		lock.release()
		if err == nil {
			changed = append(changed, r.ID)
		}
	}
	return changed, nil
}

// RefusedError says why a run cannot be resumed, or a run's checkpoint cannot be sampled
// from; nothing was changed. Err, when set, is a sentinel that says what kind of refusal it
// is (ErrNoCheckpoint).
type RefusedError struct {
	Msg string
	Err error
}

func (e *RefusedError) Error() string { return e.Msg }

func (e *RefusedError) Unwrap() error { return e.Err }

// ErrNoCheckpoint is wrapped by the RefusedError of a run that cannot be resumed because it
// has no checkpoint: it can only be started again.
var ErrNoCheckpoint = errors.New("no checkpoint to resume from")

// claim makes this process the owner of a recorded run that is to be resumed: it takes the
// run's lock, checks that the run may be resumed, and swaps the record to running under this
// process. On refusal nothing is changed. sample says that the caller resumes a sample run,
// which restarts from its parent's checkpoint and so needs none of its own.
func claim(store *results.Store, id int64, runDir string, sample bool) (*runLock, error) {
	r, err := store.Run(id)
	if err != nil {
		return nil, &RefusedError{Msg: err.Error()}
	}
	lock, err := lockRun(runDir)
	if errors.Is(err, errLocked) {
		return nil, &RefusedError{Msg: fmt.Sprintf("run %d is being run by another process (pid %d on %s); wait for it to end", id, r.Pid, r.Host)}
	}
	if err != nil {
		return nil, err
	}
	refuseAs := func(kind error, format string, args ...any) (*runLock, error) {
		lock.release()
		return nil, &RefusedError{Msg: fmt.Sprintf(format, args...), Err: kind}
	}
	refuse := func(format string, args ...any) (*runLock, error) { return refuseAs(nil, format, args...) }
	if isSampleRun(r) != sample {
		kind := map[bool]string{true: "a sample run", false: "a training run"}
		return refuse("run %d is %s; the trial given to resume it is of %s", id, kind[isSampleRun(r)], kind[sample])
	}
	switch r.Status {
	case results.StatusInterrupted:
	case results.StatusFailed:
		if !sample && !hasCheckpoint(runDir) {
			return refuseAs(ErrNoCheckpoint, "run %d failed before writing a checkpoint; start it again with `runner rerun %d`", id, id)
		}
	case results.StatusRunning:
		if r.Host != results.Host() || r.Host == "" {
			if age, ok := heartbeatAge(r); ok && age < StaleHeartbeat {
				return refuse("run %d is running on %s (pid %d, heartbeat %s ago); it counts as crashed after %s without a heartbeat, so resume is possible in %s if it stops",
					id, r.Host, r.Pid, age.Round(time.Second), StaleHeartbeat, (StaleHeartbeat - age).Round(time.Second))
			}
		}
		// On this host, holding the lock proves its owner is gone.
	default:
		return refuse("run %d is %s; only interrupted, crashed or failed runs with a checkpoint can be resumed", id, r.Status)
	}
	if !sample && !hasCheckpoint(runDir) {
		return refuseAs(ErrNoCheckpoint, "run %d has no checkpoint in %s to resume from", id, filepath.Join(runDir, "checkpoint"))
	}
	if err := store.TakeOver(id, r); err != nil {
		if errors.Is(err, results.ErrTakenOver) {
			return refuse("run %d was taken over by another process while this one was starting", id)
		}
		lock.release()
		return nil, err
	}
	return lock, nil
}

// LooksCrashed says, without writing or locking anything, whether a run recorded as running
// has lost its owner, as Reconcile would judge it: on the run's own host its process is gone,
// from another host its heartbeat is older than StaleHeartbeat. It is for readers that must
// not change the database (runner serve), so a crashed run shows as such before any command
// that writes records it.
func LooksCrashed(r *results.Run) bool {
	if r.Status != results.StatusRunning {
		return false
	}
	if r.Host == "" || r.Host != results.Host() {
		age, ok := heartbeatAge(r)
		return !ok || age >= StaleHeartbeat
	}
	if r.Pid <= 0 {
		return true
	}
	err := unix.Kill(r.Pid, 0)
	return err != nil && !errors.Is(err, unix.EPERM)
}
