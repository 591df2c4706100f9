package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// runInParallel runs the selected trials (0-based indices among all resolved trials) in up
// to n child processes of this runner at once, each with its share of the cores
// (GOMAXPROCS) and its own shard database in a scratch folder beside the database; the
// shards are merged in trial order when all have ended, and the scratch folder removed.
// Results do not depend on the thread count, so the runs equal those of one process.
func runInParallel(c *urfave.Context, n int, index []int) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--jobs: finding this runner binary: %w", err)
	}
	store, err := openForRuns(c.String("db"), c.App.ErrWriter, false)
	if err != nil {
		return err
	}
	defer store.Close()
	scratch, err := os.MkdirTemp(filepath.Dir(store.Path), ".jobs-")
	if err != nil {
		return fmt.Errorf("--jobs: scratch folder: %w", err)
	}
	defer os.RemoveAll(scratch)
	procs := max(1, runtime.NumCPU()/n)
	shards := make([]string, len(index))
	codes := make([]int, len(index))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var mu sync.Mutex // one child's output lines at a time
	for i, k := range index {
		shards[i] = filepath.Join(scratch, "trial-"+strconv.Itoa(k+1)+".db")
		args := []string{"run", "--resume", "-q", "--trial", strconv.Itoa(k + 1), "--db", shards[i]}
		if b := c.String("backend"); b != "" {
			args = append(args, "--backend", b)
		}
		for _, s := range c.StringSlice("set") {
			args = append(args, "--set", s)
		}
		if !c.Bool("fast-matmul") {
			args = append(args, "--fast-matmul=false")
		}
		args = append(args, c.Args().Slice()...)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command(self, args...)
			cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
			// The child's stderr says what it ran and how it ended; its stdout (summaries,
			// artifact paths in the scratch shard) would mislead.
			var out bytes.Buffer
			cmd.Stderr = &out
			err := cmd.Run()
			mu.Lock()
			defer mu.Unlock()
			c.App.ErrWriter.Write(out.Bytes())
			if ee, ok := err.(*exec.ExitError); ok {
				codes[i] = ee.ExitCode()
			} else if err != nil {
				codes[i] = -1
				fmt.Fprintf(c.App.ErrWriter, "trial %d: %v\n", index[i]+1, err)
			}
		}(i)
	}
	wg.Wait()
	failed := 0
	for i, sh := range shards {
		if _, err := os.Stat(sh); err != nil {
			failed++
			continue
		}
		res, err := store.Merge(sh, results.MergeOptions{Origin: fmt.Sprintf("runner run --jobs %d (trial %d)", n, index[i]+1)})
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "error: %v\n", err)
			failed++
			continue
		}
		for sid, id := range res.IDs {
			r, err := store.Run(id)
			if err == nil {
				fmt.Fprintf(c.App.ErrWriter, "trial %d: run %d (shard run %d): %s\n", index[i]+1, id, sid, r.Status)
			}
		}
		if codes[i] != 0 {
			failed++
		}
	}
	if failed > 0 {
		return urfave.Exit(fmt.Sprintf("%d of %d trials did not finish", failed, len(index)), exitRunFail)
	}
	return nil
}
