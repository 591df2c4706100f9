package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/launch"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
	urfave "github.com/urfave/cli/v2"
)

// openForWriting opens (creating it if needed) the database of a command that records runs.
// A database that cannot be opened or written is bad input (exit 2), said before anything
// runs. Runs left "running" by a process that is gone are recorded as what they are first.
func openForWriting(path string, errW io.Writer) (*results.Store, error) {
	s, err := results.Open(path)
	if err != nil {
		return nil, usagef("%v", err)
	}
	recoverMerges(s, errW)
	reconcile(s, errW)
	return s, nil
}

// openForRuns is openForWriting for the commands that run trials: the database's artifact
// folder must be its own, which is checked (and the folder made) before anything runs, and
// the runs of a runner run --jobs that was stopped before it merged them are merged first.
func openForRuns(path string, errW io.Writer, mustExist bool) (*results.Store, error) {
	open := openForWriting
	if mustExist {
		open = openExisting
	}
	s, err := open(path, errW)
	if err != nil {
		return nil, err
	}
	if _, err := s.ClaimArtifactRoot(); err != nil {
		s.Close()
		return nil, usagef("%v", err)
	}
	if err := launch.RecoverScratch(s, errW, func(name string) { phaseMarker(errW)(name) }); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openExisting opens a database that must already exist, for writing: a mistyped path
// should say so, not create an empty database there.
func openExisting(path string, errW io.Writer) (*results.Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, usagef("no results database at %s (run `runner run SPEC` first, or give --db)", path)
	}
	return openForWriting(path, errW)
}

// openForReading opens an existing database for a report. Where the database and its folder
// can be written, it is opened as for writing (an old schema is migrated, crashed runs are
// recorded as such); where they cannot, it is read as it is and nothing is written.
func openForReading(path string, errW io.Writer) (*results.Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, usagef("no results database at %s (run `runner run SPEC` first, or give --db)", path)
	}
	if unix.Access(path, unix.W_OK) == nil && unix.Access(filepath.Dir(path), unix.W_OK) == nil {
		return openForWriting(path, errW)
	}
	s, err := results.OpenReadOnly(path)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return s, nil
}

// reconcile records the runs whose process died without recording their end (kill -9, a
// crash, a full disk) and says so.
func reconcile(s *results.Store, errW io.Writer) {
	ids, err := engine.Reconcile(s)
	if err != nil {
		fmt.Fprintf(errW, "warning: could not check for crashed runs: %v\n", err)
		return
	}
	for _, id := range ids {
		r, err := s.Run(id)
		if err != nil {
			continue
		}
		fmt.Fprintf(errW, "note: run %d was left running by a process that is gone; recorded as %s\n", id, r.Status)
	}
}

// recoverMerges finishes or undoes what merges killed half-way left in the database's
// artifact folder, before anything else is done with it, and says what it did.
func recoverMerges(s *results.Store, errW io.Writer) {
	notes, err := s.RecoverMerges()
	for _, n := range notes {
		fmt.Fprintf(errW, "note: %s\n", report.TerminalText(n))
	}
	if err != nil {
		fmt.Fprintf(errW, "warning: %s\n", report.TerminalText(err.Error()))
	}
}

// maxMemoryFlag is --max-memory, the memory a run may be expected to use.
func maxMemoryFlag() urfave.Flag {
	return &urfave.StringFlag{Name: "max-memory", EnvVars: []string{"RUNNER_MAX_MEMORY"},
		Usage: "refuse trials estimated to need more than this (512MiB, 8GiB, ...); default: the memory available now"}
}

// checkMemory refuses, before anything is written, a trial whose estimated peak memory is
// more than --max-memory, or than the machine has available: such a run would be killed by
// the kernel halfway and leave its record behind.
func checkMemory(jobs []*engine.Job, flag string) error {
	limit, source, ok := engine.AvailableMemory()
	if flag != "" {
		v, err := engine.ParseBytes(flag)
		if err != nil {
			return usagef("--max-memory: %v", err)
		}
		limit, source, ok = v, "--max-memory", true
	}
	if !ok {
		return nil
	}
	for i, j := range jobs {
		e := engine.EstimateMemory(j)
		if e.Bytes <= limit {
			continue
		}
		t := j.Trial
		return usagef("%s: trial %d (seed %d%s) needs about %s of memory at its peak (%s: load %s, train %s, sample %s, bound %s), "+
			"more than the %s of %s; lower train.batch, sample.n, eval.n or the network's size, or set --max-memory",
			t.File, i+1, t.Seed, sweepLabel(t), engine.FormatBytes(e.Bytes), e.Phase, engine.FormatBytes(e.Phases["load"]),
			engine.FormatBytes(e.Phases["train"]), engine.FormatBytes(e.Phases["sample"]), engine.FormatBytes(e.Phases["bound"]),
			engine.FormatBytes(limit), source)
	}
	return nil
}
