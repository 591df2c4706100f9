package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/launch"
	"github.com/ddpm-runner/ddpm-runner/report"
)

func mergeCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "merge",
		Usage:     "import the runs of shard databases (or of a sweep folder's shards) into the database",
		ArgsUsage: "SHARD.db|SWEEP...",
		Description: "Each shard's finished, failed, diverged and interrupted runs are imported with their metrics,\n" +
			"histories, provenance and artifacts; runs still running are skipped and listed. Runs are matched\n" +
			"by their uid, so merging twice adds nothing and a run resumed in its shard since is updated. Each\n" +
			"shard is checked whole and imported in one transaction: a corrupt one is refused, with its name,\n" +
			"and leaves the database as it was; the other shards are still merged. A run that is live in the\n" +
			"database (its lock held, or recorded running) is never replaced; it is skipped and listed.\n" +
			"SIGINT, SIGTERM or SIGHUP stops the merge between shards, or before a shard's folders are moved into\n" +
			"place, with nothing of that shard written.",
		Flags: []urfave.Flag{dbFlag()},
		Action: func(c *urfave.Context) error {
			return runMerge(c.Context, mergeOptions{db: c.String("db")}, globalOptionsFrom(c), c.Args().Slice())
		},
	})
}

// mergeOptions are runner merge's flags.
type mergeOptions struct {
	db string
}

// runMerge imports the runs of the shard databases (or sweep folders' shards) that args
// name into the database.
func runMerge(ctx context.Context, opts mergeOptions, gopts globalOptions, args []string) error {
	if len(args) == 0 {
		return usagef("merge needs at least one shard database or sweep folder")
	}
	var shards []string
	for _, a := range args {
		found, err := shardsOf(a)
		if err != nil {
			return usagef("%s", report.TerminalText(err.Error()))
		}
		shards = append(shards, found...)
	}
	store, err := openForWriting(opts.db, gopts.stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	failed := launch.MergeShards(ctx, gopts.stderr, store, shards, tracePhases(gopts.stderr))
	if failed > 0 {
		return urfave.Exit(fmt.Sprintf("%d of %d shards could not be merged; %s is unchanged by them", failed, len(shards), report.TerminalText(store.Path)), exitRunFail)
	}
	return nil
}

// shardsOf is the shard databases an argument names: the file itself, or every *.db in a
// sweep folder's shards/ (or in the folder itself), in name order.
func shardsOf(arg string) ([]string, error) {
	st, err := os.Stat(arg)
	if err != nil {
		return nil, fmt.Errorf("no shard database or sweep folder at %s", arg)
	}
	if !st.IsDir() {
		return []string{arg}, nil
	}
	dir := arg
	if st, err := os.Stat(filepath.Join(arg, "shards")); err == nil && st.IsDir() {
		dir = filepath.Join(arg, "shards")
	}
	found, err := filepath.Glob(filepath.Join(dir, "*.db"))
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("no shard databases (*.db) in %s", dir)
	}
	slices.Sort(found)
	return found, nil
}
