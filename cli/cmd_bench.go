package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/bench"
	"github.com/ddpm-runner/ddpm-runner/results"
)

func benchCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:  "bench",
		Usage: "measure training and sampling speed of the reference configs, the runner's overhead and SQLite writes",
		Description: "For each reference config: train steps/s through the runner (progress, logging, checkpoints off) and\n" +
			"through a bare GoMLX loop on the same model and batches, the overhead between them, samples/s, and\n" +
			"the process's peak memory; then SQLite metric-write throughput. Results are recorded in the database\n" +
			"as runs of spec \"bench\". Then (--kernels) the fast and the stock matmul kernel: GFLOP/s of the MNIST MLP's\n" +
			"products and of 1024^3 through the go backend, and the MNIST MLP step (batch 128 and 512), the U-Net step\n" +
			"and the papers' U-Net blocks' step (mnist_unet_ddpm; batch 32) timed in rounds after a warm-up round\n" +
			"(medians; with PyTorch, in a block before each of its runs, so that both see the same minutes of the\n" +
			"machine), and with the stock kernel in rounds alternating with the fast one; with python3 and torch\n" +
			"available ($DDPM_BENCH_PYTHON names the interpreter; otherwise python3\n" +
			"on PATH, then /usr/bin/python3), bench/torch_mlp.py, bench/torch_unet.py and bench/torch_unet_ddpm.py time\n" +
			"the same steps in PyTorch at 1 and 2 threads, three runs each, and the setting with the best median is\n" +
			"compared. --format json prints only that comparison, as a list per config and batch.\n" +
			"--config inception times the FID Inception's forward pass instead (batch 50, 299x299, images/s; the tests' random\n" +
			"weights, which have the real shapes) against bench/torch_inception.py's torchvision replica.",
		Flags: []urfave.Flag{
			dbFlag(),
			&urfave.IntFlag{Name: "steps", Value: 60, Usage: "timed training steps per config"},
			&urfave.StringSliceFlag{Name: "config", Usage: "only these configs (2d_mlp, mnist_mlp, mnist_unet, mnist_unet_ddpm, inception; repeatable)"},
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
	if err := backend.Check(opts.backend); err != nil {
		return usagef("%v", err)
	}
	kernel, err := opts.matmul.kernelFor(opts.backend)
	if err != nil {
		return err
	}
	choice, err := backend.Parse(opts.backend)
	if err != nil {
		return usagef("%v", err)
	}
	choice.Kernel = kernel
	if opts.format != "table" && opts.format != "json" {
		return usagef("--format %q: want table or json", opts.format)
	}
	for _, name := range opts.configs {
		if !slices.Contains(benchConfigNames(), name) {
			return usagef("--config %q: want one of %s", name, strings.Join(benchConfigNames(), ", "))
		}
		if name == "inception" && len(opts.configs) > 1 {
			return usagef("--config inception times the Inception's forward pass alone: give it on its own")
		}
	}
	if len(opts.configs) == 1 && opts.configs[0] == "inception" {
		table := gopts.stdout
		if opts.format == "json" { // only the JSON, as for the steps
			table = io.Discard
		}
		row, err := bench.CompareInception(table, min(opts.rounds, 3), choice)
		if err != nil {
			return err
		}
		if opts.format == "json" {
			return bench.WriteStepsJSON(gopts.stdout, []bench.InceptionRow{row})
		}
		return nil
	}
	switch opts.format {
	case "table":
		if !choice.IsGo() {
			_, err := bench.CompareSteps(gopts.stdout, opts.rounds, choice, opts.configs...)
			return err
		}
	case "json":
		rows, err := bench.CompareSteps(io.Discard, opts.rounds, choice, opts.configs...)
		if err != nil {
			return err
		}
		return bench.WriteStepsJSON(gopts.stdout, rows)
	}
	store, err := results.Open(opts.db)
	if err != nil {
		return usagef("%v", err)
	}
	defer store.Close()
	w := tabwriter.NewWriter(gopts.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "config\trunner steps/s\tbare steps/s\toverhead\tsamples/s\tpeak RSS")
	steps := opts.steps
	for _, cfg := range bench.Configs {
		if len(opts.configs) > 0 && !slices.Contains(opts.configs, cfg.Name) {
			continue
		}
		res, err := bench.RecordConfig(store, cfg.Name, cfg.Spec, steps, kernel)
		if err != nil {
			return fmt.Errorf("bench %s: %w", cfg.Name, err)
		}
		fmt.Fprintf(w, "%s\t%.2f\t%.2f\t%+.1f%%\t%.1f\t%.0f MiB\n", cfg.Name, res["runner_steps_per_sec"],
			res["bare_steps_per_sec"], res["overhead_percent"], res["samples_per_sec"], res["peak_rss_mib"])
	}
	w.Flush()
	rows, rate, err := bench.SQLiteWrites(filepath.Join(os.TempDir(), fmt.Sprintf("ddpm-bench-%d.db", os.Getpid())))
	if err != nil {
		return err
	}
	fmt.Fprintf(gopts.stdout, "sqlite: %d metric rows in batches of 256: %.0f rows/s\n", rows, rate)
	if !opts.kernels {
		return nil
	}
	if err := bench.WriteKernels(gopts.stdout, kernel); err != nil {
		return err
	}
	_, err = bench.CompareSteps(gopts.stdout, opts.rounds, choice, opts.configs...)
	return err
}

// benchConfigNames are the names --config accepts: the reference configs and "inception".
func benchConfigNames() []string {
	var names []string
	for _, c := range bench.Configs {
		names = append(names, c.Name)
	}
	return append(names, "inception")
}
