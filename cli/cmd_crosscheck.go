package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"text/tabwriter"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
)

func crosscheckCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "crosscheck",
		Usage:     "run one trial on two backends and check that they agree to float32 rounding",
		ArgsUsage: "SPEC",
		Description: "Runs the chosen trial of SPEC on --against (default go), then on --backend, from the same initial\n" +
			"weights and the same batches, and compares each of the first 20 losses, the final loss and the bound\n" +
			"(nll_bits_per_dim) as relative differences against stated tolerances (see docs/gpu.md).\n" +
			"The spec must log every step (train.log_every = 1); experiments/crosscheck_unet.toml does. Exits 1 when a\n" +
			"quantity differs by more than its tolerance. Both runs are recorded in --db (a scratch database by default).",
		Flags: []urfave.Flag{
			&urfave.StringFlag{Name: "db", Usage: "record both runs here (default: a scratch database, removed afterwards)"},
			setFlag(),
			&urfave.StringFlag{Name: "backend", Required: true, Usage: "the backend to check, e.g. xla:cuda"},
			&urfave.StringFlag{Name: "against", Value: "go", Usage: "the reference backend"},
			&urfave.IntFlag{Name: "trial", Value: 1, Usage: "which trial of SPEC (1-based, as --dry-run numbers them)"},
			&urfave.StringFlag{Name: "format", Value: "table", Usage: "table or json"},
			&urfave.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
			fastMatmulFlag(),
		},
		Action: func(c *urfave.Context) error {
			return runCrosscheck(c.Context, crosscheckOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
		},
	})
}

// crosscheckOptions are runner crosscheck's flags.
type crosscheckOptions struct {
	db      string
	sets    []string
	backend string
	against string
	trial   int
	format  string
	quiet   bool
	matmul  matmulOptions
}

func crosscheckOptionsFrom(c *urfave.Context) crosscheckOptions {
	return crosscheckOptions{db: c.String("db"), sets: c.StringSlice("set"), backend: c.String("backend"), against: c.String("against"),
		trial: c.Int("trial"), format: c.String("format"), quiet: c.Bool("quiet"), matmul: matmulOptionsFrom(c)}
}

// runCrosscheck runs the chosen trial of the one spec in args on --against and on --backend
// and checks that the two runs agree.
func runCrosscheck(ctx context.Context, opts crosscheckOptions, gopts globalOptions, args []string) error {
	if len(args) != 1 {
		return usagef("crosscheck takes one SPEC")
	}
	if f := opts.format; f != "table" && f != "json" {
		return usagef("--format %q: want table or json", f)
	}
	var jobs [2]*engine.Job
	var kernels [2]backend.Kernel
	for i, name := range []string{opts.against, opts.backend} {
		var err error
		if kernels[i], err = opts.matmul.kernelFor(name); err != nil {
			return err
		}
		all, err := loadJobs(args, opts.sets, name, nil)
		if err != nil {
			return err
		}
		k := opts.trial
		if k < 1 || k > len(all) {
			return usagef("--trial %d: %s has %d trial(s)", k, args[0], len(all))
		}
		jobs[i] = all[k-1]
	}
	dbPath := opts.db
	if dbPath == "" {
		dir, err := os.MkdirTemp("", "ddpm-crosscheck-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dbPath = filepath.Join(dir, "crosscheck.db")
	}
	store, err := openForRuns(dbPath, gopts.stderr, false)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, stop := signal.NotifyContext(ctx, stopSignals()...)
	defer stop()
	var ids [2]int64
	for i, job := range jobs {
		fmt.Fprintf(gopts.stderr, "crosscheck: trial %d on %s\n", opts.trial, job.Trial.Backend)
		out := engine.Run(ctx, job, engine.Options{Store: store, Progress: gopts.progress(opts.quiet), Kernel: kernels[i]})
		if out.Status != results.StatusFinished {
			return urfave.Exit(fmt.Sprintf("crosscheck: the run on %s %s%s", job.Trial.Backend, out.Status, errSuffix(out.Err)), exitRunFail)
		}
		ids[i] = out.RunID
	}
	rows, err := compareRuns(store, ids[0], ids[1])
	if err != nil {
		return err
	}
	if err := writeAgreement(gopts.stdout, opts.format, rows, jobs[0].Trial.Backend, jobs[1].Trial.Backend); err != nil {
		return err
	}
	for _, r := range rows {
		if !r.OK {
			return urfave.Exit(fmt.Sprintf("crosscheck: %s and %s disagree beyond tolerance (%s: %.3g > %.3g)",
				jobs[0].Trial.Backend, jobs[1].Trial.Backend, r.Quantity, r.RelDiff, r.Tolerance), exitRunFail)
		}
	}
	return nil
}

// writeAgreement prints the compared quantities on w as a table or as JSON (format).
func writeAgreement(w io.Writer, format string, rows []agreement, a, b string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"a": a, "b": b, "rows": rows})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "quantity\t%s\t%s\trelative difference\ttolerance\t\n", a, b)
	worst := 0.0
	for _, r := range rows {
		mark := "ok"
		if !r.OK {
			mark = "EXCEEDS"
		}
		worst = max(worst, r.RelDiff)
		fmt.Fprintf(tw, "%s\t%.9g\t%.9g\t%.3g\t%.3g\t%s\n", r.Quantity, r.A, r.B, r.RelDiff, r.Tolerance, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "largest relative difference: %.3g\n", worst)
	return nil
}
