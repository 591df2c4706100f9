package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/results"
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
			"and leaves the database as it was; the other shards are still merged.",
		Flags: []urfave.Flag{dbFlag()},
		Action: func(c *urfave.Context) error {
			if c.NArg() == 0 {
				return usagef("merge needs at least one shard database or sweep folder")
			}
			var shards []string
			for _, a := range c.Args().Slice() {
				found, err := shardsOf(a)
				if err != nil {
					return usagef("%v", err)
				}
				shards = append(shards, found...)
			}
			store, err := openForWriting(c.String("db"), c.App.ErrWriter)
			if err != nil {
				return err
			}
			defer store.Close()
			failed := mergeShards(c, store, shards)
			if failed > 0 {
				return urfave.Exit(fmt.Sprintf("%d of %d shards could not be merged; %s is unchanged by them", failed, len(shards), store.Path), exitRunFail)
			}
			return nil
		},
	})
}

// mergeShards merges each shard into store, printing one line per shard, and returns how
// many were refused.
func mergeShards(c *urfave.Context, store *results.Store, shards []string) int {
	failed := 0
	for _, sh := range shards {
		res, err := store.Merge(sh, results.MergeOptions{})
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "error: %v\n", err)
			failed++
			continue
		}
		fmt.Fprintf(c.App.ErrWriter, "%s: %d added, %d updated, %d already merged\n", sh, res.Added, res.Updated, res.Unchanged)
		for _, s := range res.Skipped {
			fmt.Fprintf(c.App.ErrWriter, "  skipped %s\n", s)
		}
	}
	return failed
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
