package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/bench"
	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

func benchCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:  "bench",
		Usage: "measure training and sampling speed of the reference configs, the runner's overhead and SQLite writes",
		Description: "For each reference config: train steps/s through the runner (progress, logging, checkpoints off) and\n" +
			"through a bare GoMLX loop on the same model and batches, the overhead between them, samples/s, and\n" +
			"the process's peak memory; then SQLite metric-write throughput. Results are recorded in the database\n" +
			"as runs of spec \"bench\". Then (--kernels) the fast and the stock matmul kernel: GFLOP/s of the MNIST MLP's\n" +
			"products and of 1024^3 through the go backend, and the MNIST MLP step (batch 128 and 512) and U-Net step\n" +
			"(batch 32) timed in alternating rounds in this process (medians); with python3 and torch available,\n" +
			"bench/torch_mlp.py and bench/torch_unet.py time the same steps in PyTorch at 1 and 2 threads, three\n" +
			"runs each, and the setting with the best median is compared. --format json prints only that comparison, as a list per config and batch.",
		Flags: []urfave.Flag{
			dbFlag(),
			&urfave.IntFlag{Name: "steps", Value: 60, Usage: "timed training steps per config"},
			&urfave.StringSliceFlag{Name: "config", Usage: "only these configs (2d_mlp, mnist_mlp, mnist_unet; repeatable)"},
			fastMatmulFlag(),
			&urfave.BoolFlag{Name: "kernels", Value: true, Usage: "also compare the fast and the stock matmul kernel, and PyTorch"},
			&urfave.IntFlag{Name: "rounds", Value: 7, Usage: "alternating rounds per kernel comparison"},
			&urfave.StringFlag{Name: "format", Value: "table", Usage: "table, or json: the training-step comparison only, for scripts"},
			&urfave.StringFlag{Name: "backend", Value: "go", Usage: "time the training steps on this backend; other than go (xla:cuda), only the step comparison runs, against PyTorch on the GPU"},
		},
		Action: func(c *urfave.Context) error {
			return runBench(benchOptionsFrom(c), globalOptionsFrom(c))
		},
	})
}

// benchOptions are runner bench's flags.
type benchOptions struct {
	db      string
	steps   int
	configs []string
	matmul  matmulOptions
	kernels bool
	rounds  int
	format  string
	backend string
}

func benchOptionsFrom(c *urfave.Context) benchOptions {
	return benchOptions{db: c.String("db"), steps: c.Int("steps"), configs: c.StringSlice("config"), matmul: matmulOptionsFrom(c),
		kernels: c.Bool("kernels"), rounds: c.Int("rounds"), format: c.String("format"), backend: c.String("backend")}
}

// runBench times the reference configs, SQLite writes and (--kernels) the matmul kernels
// against each other and PyTorch.
func runBench(opts benchOptions, gopts globalOptions) error {
	opts.matmul.apply()
	backend := opts.backend
	if err := engine.CheckBackend(backend); err != nil {
		return usagef("%v", err)
	}
	switch opts.format {
	case "table":
		if !strings.HasPrefix(backend, "go") {
			_, err := compareSteps(gopts.stdout, opts.rounds, backend)
			return err
		}
	case "json":
		rows, err := compareSteps(io.Discard, opts.rounds, backend)
		if err != nil {
			return err
		}
		return writeStepsJSON(gopts.stdout, rows)
	default:
		return usagef("--format %q: want table or json", opts.format)
	}
	store, err := results.Open(opts.db)
	if err != nil {
		return usagef("%v", err)
	}
	defer store.Close()
	w := tabwriter.NewWriter(gopts.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "config\trunner steps/s\tbare steps/s\toverhead\tsamples/s\tpeak RSS")
	steps := opts.steps
	only := map[string]bool{}
	for _, n := range opts.configs {
		only[n] = true
	}
	for _, cfg := range bench.Configs {
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
	fmt.Fprintf(gopts.stdout, "sqlite: %d metric rows in batches of 256: %.0f rows/s\n", rows, rate)
	if !opts.kernels {
		return nil
	}
	if err := benchKernels(gopts.stdout); err != nil {
		return err
	}
	_, err = compareSteps(gopts.stdout, opts.rounds, backend)
	return err
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
	bare, err := bench.BareLoop(backend, job, steps)
	if err != nil {
		return nil, err
	}
	out := engine.Run(context.Background(), job, engine.Options{Store: store})
	// A bench run's checkpoints and samples are of no use later: only its numbers are kept.
	defer os.RemoveAll(filepath.Join(store.ArtifactRoot(), strconv.FormatInt(out.RunID, 10)))
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
