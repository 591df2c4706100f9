package launch

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// StopSignals are the signals that stop a command the way it stops cleanly (a run
// checkpoints and records itself interrupted, a merge leaves the database as it was, a report
// removes its temporary files): SIGINT (Ctrl-C), SIGTERM (kill, a scheduler), and SIGHUP (the
// terminal closed, the ssh connection lost), which would otherwise end the process where it
// stands. SIGHUP is left out when the process was started with it ignored (nohup), since
// watching it would undo that: the command must then outlive its terminal.
func StopSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// ShardOptions say how one shard is merged.
type ShardOptions struct {
	// WritersDead says that every process that wrote the shard has ended (a --jobs child
	// that has exited, or whose parent was killed and whose scratch folder nobody holds).
	// Runs they left running without recording their end are then first recorded in the
	// shard as what they are (interrupted with a checkpoint, else failed), so that nothing
	// stays running for ever; and a shard that was never created holds nothing to merge.
	// Without it, runs still running are skipped and listed, and a missing shard is an error.
	WritersDead bool
	// Origin is recorded as where the shard's runs came from ("" names the shard's path).
	Origin string
	// Context stops the merge before the shard's folders are moved into place.
	Context context.Context
	// Phase, when not nil, is told the merge's phases (see results.MergeOptions).
	Phase func(string)
}

// MergeShard merges the shard database at path into store.
func MergeShard(store *results.Store, path string, opts ShardOptions) (results.MergeResult, error) {
	if opts.WritersDead {
		if _, err := os.Lstat(path); os.IsNotExist(err) {
			return results.MergeResult{Shard: path}, nil
		}
		sh, err := results.Open(path)
		if err != nil {
			return results.MergeResult{}, err
		}
		_, err = engine.Reconcile(sh)
		if cerr := sh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return results.MergeResult{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	return store.Merge(path, results.MergeOptions{Origin: opts.Origin, Context: opts.Context, Phase: opts.Phase})
}

// MergeShards merges each shard into store, printing one line per shard on w (paths and
// messages escaped for the terminal), and returns how many were refused or not merged. A
// stop signal (StopSignals) stops it: the shard being merged is left out whole unless its
// folders are already being moved into place (then it finishes), and the shards after it are
// not begun. phase, when not nil, is told the merges' phases.
func MergeShards(ctx context.Context, w io.Writer, store *results.Store, shards []string, phase func(string)) int {
	ctx, stop := signal.NotifyContext(ctx, StopSignals()...)
	defer stop()
	failed := 0
	for i, sh := range shards {
		if ctx.Err() != nil {
			fmt.Fprintf(w, "interrupted: %d shard(s) not merged; run the same merge again to import them\n", len(shards)-i)
			return failed + len(shards) - i
		}
		res, err := MergeShard(store, sh, ShardOptions{Context: ctx, Phase: phase})
		if err != nil {
			fmt.Fprintf(w, "error: %s\n", report.TerminalText(err.Error()))
			failed++
			continue
		}
		fmt.Fprintf(w, "%s: %d added, %d updated, %d already merged\n", report.TerminalText(sh), res.Added, res.Updated, res.Unchanged)
		for _, s := range res.Skipped {
			fmt.Fprintf(w, "  skipped %s\n", report.TerminalText(s))
		}
	}
	return failed
}
