package launch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// A --jobs scratch folder is <artifact folder>/.jobs-NNN: the children's shard databases
// (trial-K.db, with their artifact folders trial-K/) and a lock file naming the parent (pid
// and host) and the trials it runs (their hashes), for --resume elsewhere. The parent and every child hold the file's flock, so the folder counts as in use
// until the last process of the group has ended, however each ended. It lives inside the
// artifact folder, which is marked with the database's id, so it belongs to that database
// alone.
const (
	scratchPrefix = ".jobs-"
	// scratchStaging names a scratch folder while it is made: it is renamed to its final
	// name once its lock is held, so that no other command sees it unlocked.
	scratchStaging = ".jobs.new-"
	// scratchDone names a scratch folder whose runs are all in the database while it is
	// deleted: a kill during the deletion leaves a folder that is plainly done with (not
	// one whose lock file is already gone), and the next command deletes it.
	scratchDone = ".jobs.old-"
	scratchLock = "lock"
	// scratchWait is how long a command waits for the children of a killed --jobs parent
	// to checkpoint and end before it merges their shards.
	scratchWait = 2 * time.Minute
	// scratchStale is the age after which a staging folder left by a killed runner is removed.
	scratchStale = time.Minute
)

// Scratch is a held --jobs scratch folder.
type Scratch struct {
	dir  string
	lock *os.File
}

// Dir is the scratch folder's path.
func (s *Scratch) Dir() string { return s.dir }

// scratchOwner is what a scratch folder's lock file says of the runner that made it.
type scratchOwner struct {
	Pid    int      `json:"pid"`
	Host   string   `json:"host"`
	Trials []string `json:"trials"` // the hashes of the trials it runs
}

// maxOwnerBytes bounds what is read of a lock file: the hashes of the most trials a spec
// may resolve to, with room to spare.
const maxOwnerBytes = 4 << 20

// NewScratch makes a scratch folder in root for the trials of the given hashes, and holds
// its lock.
func NewScratch(root string, trials []string) (*Scratch, error) {
	tmp, err := os.MkdirTemp(root, scratchStaging)
	if err != nil {
		return nil, fmt.Errorf("scratch folder: %w", err)
	}
	fail := func(err error) (*Scratch, error) {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("scratch folder %s: %w", tmp, err)
	}
	f, err := os.OpenFile(filepath.Join(tmp, scratchLock), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fail(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return fail(err)
	}
	b, _ := json.Marshal(scratchOwner{Pid: os.Getpid(), Host: results.Host(), Trials: trials})
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fail(err)
	}
	dir := filepath.Join(root, scratchPrefix+strings.TrimPrefix(filepath.Base(tmp), scratchStaging))
	if err := os.Rename(tmp, dir); err != nil {
		f.Close()
		return fail(err)
	}
	return &Scratch{dir: dir, lock: f}, nil
}

// remove deletes the scratch folder once every run in it is in the database; its lock is
// still held, so no other command is in it.
func (s *Scratch) remove() error { return discardScratch(s.dir) }

// discardScratch deletes a scratch folder whose runs are all in the database: renamed first
// (one atomic step), so a kill halfway through the deletion leaves a scratchDone folder,
// which RecoverScratch deletes, never a scratch folder without its lock file.
func discardScratch(dir string) error {
	done := filepath.Join(filepath.Dir(dir), scratchDone+strings.TrimPrefix(filepath.Base(dir), scratchPrefix))
	if err := os.Rename(dir, done); err != nil {
		return err
	}
	return os.RemoveAll(done)
}

// Release drops this process's hold on the folder's lock.
func (s *Scratch) Release() { s.lock.Close() }

// RecoverScratch merges into s the shards of every --jobs scratch folder in its artifact
// folder that no process holds any more (its runner was killed, or could not merge them),
// then removes the folder. Runs that a dead child left running are first recorded as what
// they are, so an interrupted run arrives with its checkpoint and --resume continues it. A
// folder whose runner is dead but whose children still live (they checkpoint and stop when
// their parent dies) is waited for, up to scratchWait; that of a live runner is left to it.
// A --jobs child leaves its parent's folder alone. SIGINT, SIGTERM or SIGHUP stop the
// recovery between two shards (a shard's merge finishes or undoes itself) or during the
// wait, leave the rest for the next command, and are returned as an error. phase, when not
// nil, is told the phases jobs.recover and "" (its end).
func RecoverScratch(s *results.Store, errW io.Writer, phase func(string)) error {
	if os.Getenv(JobsParentEnv) != "" {
		return nil
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, StopSignals()...)
	defer signal.Stop(stop)
	// An older runner kept its scratch folders beside the database, unmarked: which
	// database they belong to is unknown, so they are pointed out, not merged.
	old, _ := filepath.Glob(filepath.Join(filepath.Dir(s.Path), scratchPrefix+"*"))
	for _, dir := range old {
		if fi, err := os.Lstat(dir); err == nil && fi.IsDir() {
			fmt.Fprintf(errW, "note: %s holds the shards of an older `runner run --jobs` that was stopped; if they are this database's, `runner merge` imports them\n", report.TerminalText(dir))
		}
	}
	root := s.ArtifactRoot()
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil // no artifact folder: no scratch folder either
	}
	if phase == nil {
		phase = func(string) {}
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() { // a symlink is not followed
			continue
		}
		dir := filepath.Join(root, name)
		switch {
		case strings.HasPrefix(name, scratchStaging):
			removeStaleStaging(dir)
		case strings.HasPrefix(name, scratchDone):
			os.RemoveAll(dir)
		case strings.HasPrefix(name, scratchPrefix):
			lock := claimScratch(dir, errW, stop)
			if lock == nil {
				continue
			}
			phase("jobs.recover")
			recoverFolder(s, dir, errW, stop)
			lock.Close()
			phase("")
		}
		if sig := stopped(stop); sig != nil {
			return fmt.Errorf("stopped by %v while recovering the runs of a stopped `runner run --jobs`; the next command goes on with it", sig)
		}
	}
	return nil
}

// stopped returns the signal that has arrived on stop, if any, and leaves it there for the
// next look.
func stopped(stop chan os.Signal) os.Signal {
	select {
	case sig := <-stop:
		select {
		case stop <- sig:
		default:
		}
		return sig
	default:
		return nil
	}
}

// removeStaleStaging removes a scratch folder that a runner was killed while making: it
// holds at most the lock file. A young one may be another runner's, still being made.
func removeStaleStaging(dir string) {
	fi, err := os.Stat(dir)
	if err != nil || time.Since(fi.ModTime()) < scratchStale {
		return
	}
	f, err := openLock(dir)
	if err == nil {
		defer f.Close()
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			return
		}
	}
	os.RemoveAll(dir)
}

// claimScratch takes the lock of a scratch folder whose processes have all ended, waiting
// for the children of a dead runner; nil (said on errW) when the folder stays as it is.
func claimScratch(dir string, errW io.Writer, stop chan os.Signal) *os.File {
	shown := report.TerminalText(dir)
	f, err := openLock(dir)
	if err != nil {
		fmt.Fprintf(errW, "warning: %s has no readable lock file (%v); left alone\n", shown, err)
		return nil
	}
	deadline := time.Now().Add(scratchWait)
	waiting := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f
		}
		owner := readOwner(f)
		switch {
		case !errors.Is(err, unix.EWOULDBLOCK):
			fmt.Fprintf(errW, "warning: locking %s: %v; left alone\n", shown, err)
		case owner.Host != results.Host() || ProcessAlive(owner.Pid):
			// Another runner run --jobs on this database is running: the folder is its own.
			fmt.Fprintf(errW, "note: %s is in use by a running `runner run --jobs` (pid %d on %s)\n", shown, owner.Pid, report.TerminalText(owner.Host))
		case time.Now().After(deadline):
			fmt.Fprintf(errW, "warning: the children of a stopped `runner run --jobs` (pid %d) still hold %s after %s; it is left for the next command\n", owner.Pid, shown, scratchWait)
		case stopped(stop) != nil:
		default:
			if !waiting {
				fmt.Fprintf(errW, "note: waiting for the children of a stopped `runner run --jobs` (pid %d) to checkpoint and end\n", owner.Pid)
				waiting = true
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		f.Close()
		return nil
	}
}

// recoverFolder merges a held scratch folder's shards in trial order and removes the folder
// when every run in them is in s.
func recoverFolder(s *results.Store, dir string, errW io.Writer, stop chan os.Signal) {
	shards, _ := filepath.Glob(filepath.Join(dir, "trial-*.db"))
	trialOf := func(p string) int {
		k, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "trial-"), ".db"))
		return k
	}
	slices.SortFunc(shards, func(a, b string) int { return trialOf(a) - trialOf(b) })
	complete := true
	for _, sh := range shards {
		if stopped(stop) != nil {
			complete = false
			break
		}
		if fi, err := os.Lstat(sh); err != nil || !fi.Mode().IsRegular() {
			fmt.Fprintf(errW, "warning: %s is not a regular file; left alone\n", report.TerminalText(sh))
			complete = false
			continue
		}
		res, err := MergeShard(s, sh, ShardOptions{WritersDead: true, Origin: fmt.Sprintf("runner run --jobs (trial %d, recovered)", trialOf(sh))})
		if err != nil {
			fmt.Fprintf(errW, "warning: recovering the runs of a stopped `runner run --jobs`: %v; %s is kept\n", err, report.TerminalText(dir))
			complete = false
			continue
		}
		if len(res.Skipped) > 0 {
			complete = false
		}
		ids := make([]int64, 0, len(res.IDs))
		for _, id := range res.IDs {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			if r, err := s.Run(id); err == nil {
				fmt.Fprintf(errW, "note: run %d (%s) recovered from a stopped `runner run --jobs` (trial %d)\n", id, r.Status, trialOf(sh))
			}
		}
	}
	if complete {
		if err := discardScratch(dir); err != nil {
			fmt.Fprintf(errW, "warning: removing %s: %v\n", report.TerminalText(dir), err)
		}
	}
}

// openLock opens a scratch folder's lock file, which must be a regular file of its own
// inside the folder, for flock and reading.
func openLock(dir string) (*os.File, error) {
	return results.OpenConfined(dir, scratchLock, maxOwnerBytes)
}

// readOwner reads what a scratch folder's lock file says of its runner.
func readOwner(f *os.File) scratchOwner {
	var o scratchOwner
	b, _ := io.ReadAll(io.NewSectionReader(f, 0, maxOwnerBytes))
	_ = json.Unmarshal(bytes.TrimSpace(b), &o)
	return o
}

// ScratchTrials says, by trial hash, which trials the scratch folders left in s's artifact
// folder hold (RecoverScratch has merged and removed those it could): those of a live
// runner run --jobs, of children of a killed one that still run, or of a folder that could
// not be merged. --resume must not start these trials again. A --jobs child asks nothing:
// its parent has decided.
func ScratchTrials(s *results.Store) map[string]string {
	busy := map[string]string{}
	if os.Getenv(JobsParentEnv) != "" {
		return busy
	}
	root := s.ArtifactRoot()
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), scratchPrefix) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		f, err := openLock(dir)
		if err != nil {
			continue
		}
		o := readOwner(f)
		f.Close()
		where := fmt.Sprintf("the scratch folder %s of `runner run --jobs` (pid %d on %s), not merged yet", report.TerminalText(dir), o.Pid, report.TerminalText(o.Host))
		for _, h := range o.Trials {
			busy[h] = where
		}
	}
	return busy
}

// ProcessAlive reports whether the process pid exists on this host and has not ended: a
// parent that died but has not been waited for yet (a zombie) has ended.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if i := bytes.LastIndexByte(b, ')'); err == nil && i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
		return false
	}
	return true
}
