package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/bench"
	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/internal/fastdot"
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
			"timed in alternating rounds in this process (medians); with python3 and torch available, bench/torch_mlp.py\n" +
			"times the same MLP step in PyTorch at 1 and 2 threads, and the best setting is compared.",
		Flags: []urfave.Flag{
			dbFlag(),
			&urfave.IntFlag{Name: "steps", Value: 60, Usage: "timed training steps per config"},
			&urfave.StringSliceFlag{Name: "config", Usage: "only these configs (2d_mlp, mnist_mlp, mnist_unet; repeatable)"},
			fastMatmulFlag(),
			&urfave.BoolFlag{Name: "kernels", Value: true, Usage: "also compare the fast and the stock matmul kernel, and PyTorch"},
			&urfave.IntFlag{Name: "rounds", Value: 7, Usage: "alternating rounds per kernel comparison"},
		},
		Action: func(c *urfave.Context) error {
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
			fmt.Fprintf(c.App.Writer, "sqlite: %d metric rows in batches of 256: %.0f rows/s\n", rows, rate)
			if !c.Bool("kernels") {
				return nil
			}
			return benchKernels(c.App.Writer, c.Int("rounds"))
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

// benchKernels compares the fast and the stock matmul kernel: raw products, then training
// steps in alternating rounds, then PyTorch on the same MLP step.
func benchKernels(w io.Writer, rounds int) error {
	backend, err := engine.NewBackend("go")
	if err != nil {
		return err
	}
	defer backend.Finalize()
	if !fastdot.Active() {
		fmt.Fprintf(w, "matmul kernels: not compared, the fast kernel is off (%s)\n", fastdot.Kernel())
		return nil
	}
	fmt.Fprintf(w, "\nmatmul through the go backend (GFLOP/s), fast kernel: %s\n", fastdot.Kernel())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "M x N x K\tfast\tstock\tspeedup")
	for _, s := range fastdot.BenchShapes {
		fast, err := fastdot.GFLOPS(backend, s[0], s[1], s[2], true, time.Second)
		if err != nil {
			return err
		}
		stock, err := fastdot.GFLOPS(backend, s[0], s[1], s[2], false, time.Second)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%d x %d x %d\t%.1f\t%.1f\t%.1fx\n", s[0], s[1], s[2], fast, stock, fast/stock)
	}
	tw.Flush()

	torch, blas := benchTorch([]int{128, 512})
	fmt.Fprintf(w, "\ntraining step, fast vs stock kernel in alternating rounds (medians of %d)\n", rounds)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "config\tbatch\tfast steps/s\tfast examples/s\tstock steps/s\tspeedup\tpytorch best steps/s\tfast/pytorch")
	for _, cfg := range []struct {
		name         string
		batch, steps int
	}{{"mnist_mlp", 128, 5}, {"mnist_mlp", 512, 5}, {"mnist_unet", 32, 1}} {
		trials, err := spec.Parse(cfg.name+".toml", []byte(bench.Named(cfg.name)), []string{fmt.Sprintf("train.batch=%d", cfg.batch)})
		if err != nil {
			return err
		}
		job, err := engine.Prepare(trials[0])
		if err != nil {
			return err
		}
		rs := rounds
		if cfg.name == "mnist_unet" {
			rs = min(rounds, 3) // a stock-kernel U-Net step takes seconds
		}
		res, err := bench.CompareMatmulKernels(backend, job, rs, cfg.steps)
		if err != nil {
			return err
		}
		pt, ratio := "-", "-"
		if best, ok := torch[cfg.batch]; ok && cfg.name == "mnist_mlp" {
			pt = fmt.Sprintf("%.1f (%d thread%s)", best.stepsPerSec, best.threads, plural(best.threads))
			ratio = fmt.Sprintf("%.2f", res.FastStepsPerSec/best.stepsPerSec)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%.2f\t%.2fx\t%s\t%s\n", cfg.name, cfg.batch, res.FastStepsPerSec,
			res.FastStepsPerSec*float64(cfg.batch), res.StockStepsPerSec, res.Speedup(), pt, ratio)
	}
	tw.Flush()
	if strings.HasPrefix(blas, "(") {
		fmt.Fprintln(w, "pytorch:", blas)
	} else if blas != "" {
		fmt.Fprintf(w, "pytorch: bench/torch_mlp.py, BLAS %s; its step computes only the MSE loss (ours also clips the gradient norm and keeps an EMA of the weights)\n", blas)
	} else {
		fmt.Fprintln(w, "pytorch: not available (no python3 here can import torch; Debian: apt-get install python3-torch libopenblas0); skipped")
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

type torchResult struct {
	threads     int
	stepsPerSec float64
}

// benchTorch runs bench/torch_mlp.py with the first python that can import torch (the one
// on PATH, or Debian's /usr/bin/python3, where python3-torch installs) and returns its best
// thread setting per batch size and the BLAS library torch used.
func benchTorch(batches []int) (map[int]torchResult, string) {
	best := map[int]torchResult{}
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
			continue
		}
		args := []string{"bench/torch_mlp.py"}
		for _, b := range batches {
			args = append(args, strconv.Itoa(b))
		}
		out, err := exec.Command(py, args...).Output()
		if err != nil {
			return best, fmt.Sprintf("(bench/torch_mlp.py failed: %v)", err)
		}
		blas := "unknown"
		for _, line := range strings.Split(string(out), "\n") {
			var b, n int
			var s float64
			if _, err := fmt.Sscanf(line, "batch %d threads %d: %g steps/s", &b, &n, &s); err == nil {
				if s > best[b].stepsPerSec {
					best[b] = torchResult{threads: n, stepsPerSec: s}
				}
			} else if rest, ok := strings.CutPrefix(line, "blas "); ok {
				blas = rest
			}
		}
		return best, blas
	}
	return best, ""
}
