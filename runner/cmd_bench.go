package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	gctx "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

func benchCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "bench",
		Usage: "measure training and sampling speed of the reference configs, the runner's overhead and SQLite writes",
		Description: "For each reference config: train steps/s through the runner (progress, logging, checkpoints off) and\n" +
			"through a bare GoMLX loop on the same model and batches, the overhead between them, samples/s, and\n" +
			"the process's peak memory; then SQLite metric-write throughput. Results are recorded in the database\n" +
			"as runs of spec \"bench\". With python3 and torch available, bench/torch_mlp.py times the MNIST MLP step in PyTorch.",
		Flags: []cli.Flag{
			dbFlag(),
			&cli.IntFlag{Name: "steps", Value: 60, Usage: "timed training steps per config"},
			&cli.StringSliceFlag{Name: "config", Usage: "only these configs (2d_mlp, mnist_mlp, mnist_unet; repeatable)"},
			fastMatmulFlag(),
		},
		Action: func(c *cli.Context) error {
			applyFastMatmul(c)
			store, err := results.Open(c.String("db"))
			if err != nil {
				return usagef("%v", err)
			}
			defer store.Close()
			w := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "config\trunner steps/s\tbare steps/s\toverhead\tsamples/s\tpeak RSS")
			steps := c.Int("steps")
			only := map[string]bool{}
			for _, n := range c.StringSlice("config") {
				only[n] = true
			}
			for _, cfg := range engine.BenchConfigs {
				if len(only) > 0 && !only[cfg.Name] {
					continue
				}
				res, err := benchOne(store, cfg.Name, cfg.Spec, steps)
				if err != nil {
					return fmt.Errorf("bench %s: %w", cfg.Name, err)
				}
				fmt.Fprintf(w, "%s\t%.2f\t%.2f\t%+.1f%%\t%.1f\t%.0f MiB\n", cfg.Name, res["runner_steps_per_sec"],
					res["bare_steps_per_sec"], res["overhead_percent"], res["samples_per_sec"], res["peak_rss_mib"])
			}
			w.Flush()
			rows, rate, err := benchSQLite(filepath.Join(os.TempDir(), fmt.Sprintf("ddpm-bench-%d.db", os.Getpid())))
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "sqlite: %d metric rows in batches of 256: %.0f rows/s\n", rows, rate)
			torch := benchTorch()
			fmt.Fprintln(c.App.Writer, torch)
			return nil
		},
	})
}

// benchOne times one config through the runner and through a bare trainer loop, alternating
// so both see the same machine state, and records the numbers as a run.
func benchOne(store *results.Store, name, text string, steps int) (map[string]float64, error) {
	trials, err := spec.Parse(name+".toml", []byte(fmt.Sprintf("name = \"bench\"\n%s", text)),
		[]string{fmt.Sprintf("train.steps=%d", steps+1), "train.checkpoint_every=0", "train.log_every=10",
			"train.ema=0.99", "sample.n=64", "sample.name=respaced", "sample.steps=20", "eval.metrics=[]"})
	if err != nil {
		return nil, err
	}
	job, err := engine.Prepare(trials[0])
	if err != nil {
		return nil, err
	}
	// Bare loop: the same trainer and batches, nothing around them.
	backend, err := engine.NewBackend("go")
	if err != nil {
		return nil, err
	}
	defer backend.Finalize()
	bare, err := engine.BareLoop(backend, gctx.New(), job, steps)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ddpm-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := engine.Run(context.Background(), job, engine.Options{Store: store, ArtifactRoot: dir})
	if out.Err != nil {
		return nil, out.Err
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	res := map[string]float64{
		"runner_steps_per_sec": out.Summaries["steps_per_sec"],
		"bare_steps_per_sec":   float64(steps) / bare.Seconds(),
		"samples_per_sec":      out.Summaries["samples_per_sec"],
		"peak_rss_mib":         float64(ru.Maxrss) / 1024,
	}
	res["overhead_percent"] = 100 * (res["bare_steps_per_sec"]/res["runner_steps_per_sec"] - 1)
	if err := store.SetSummaries(out.RunID, res); err != nil {
		return nil, err
	}
	return res, store.AddEnv(out.RunID, map[string]string{"bench.config": name})
}

func benchSQLite(path string) (int, float64, error) {
	defer os.Remove(path)
	defer os.Remove(path + "-wal")
	defer os.Remove(path + "-shm")
	s, err := results.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	id, err := s.CreateRun(results.NewRun{Spec: "bench-sqlite", Resolved: "{}"})
	if err != nil {
		return 0, 0, err
	}
	const rows = 100000
	start := time.Now()
	mw := s.Metrics(id, 256)
	for i := range rows {
		if err := mw.Add("loss", i, float64(i)); err != nil {
			return 0, 0, err
		}
	}
	if err := mw.Flush(); err != nil {
		return 0, 0, err
	}
	return rows, rows / time.Since(start).Seconds(), nil
}

// benchTorch runs bench/torch_mlp.py with the first python that can import torch: the one
// on PATH, or Debian's /usr/bin/python3 (python3-torch installs there).
func benchTorch() string {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
			continue
		}
		out, err := exec.Command(py, "bench/torch_mlp.py").CombinedOutput()
		if err != nil {
			return fmt.Sprintf("pytorch: bench/torch_mlp.py failed: %v\n%s", err, out)
		}
		return "pytorch (reference MLP step, " + py + "): " + strings.TrimSpace(string(out))
	}
	return "pytorch: not available (no python3 here can import torch; Debian: apt-get install python3-torch); skipped"
}
