package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// WriteKernels prints the fast and the stock matmul kernel's GFLOP/s on the reference shapes,
// through a go backend on kernel (PrintMatmulKernels).
func WriteKernels(w io.Writer, kernel backend.Kernel) error {
	b, err := backend.New(backend.Choice{Config: "go", Kernel: kernel})
	if err != nil {
		return err
	}
	defer b.Finalize()
	return PrintMatmulKernels(w, b)
}

// StepRow is one line of the training-step comparison: ours with the fast and the stock
// kernel, and PyTorch's best thread setting on the same step.
type StepRow struct {
	Config       string   `json:"config"`
	Batch        int      `json:"batch"`
	Backend      string   `json:"backend"`
	StepsPerSec  float64  `json:"steps_per_sec"`
	StockPerSec  *float64 `json:"stock_steps_per_sec,omitempty"`
	TorchPerSec  *float64 `json:"torch_steps_per_sec"`
	TorchThreads int      `json:"torch_threads,omitempty"`
	RatioToTorch *float64 `json:"ratio_to_torch"`
	Params       int64    `json:"params"`
	TorchNote    string   `json:"torch_note,omitempty"`
}

// stepConfig is one compared training step: a reference config at one batch size, the
// PyTorch replica of it, and how many steps make one timed round: of ours alone (the rate
// compared with PyTorch's) and of the alternating rounds against the stock kernel.
type stepConfig struct {
	name, torchScript string
	batch             int
	steps, stockSteps int
	// fastOnly skips the stock-kernel rounds, whose step would take minutes (simplego's
	// own loops on the papers' blocks).
	fastOnly bool
}

// stepConfigs are the compared steps on the CPU: the MNIST MLP at two batch sizes, the
// U-Net and the papers' U-Net blocks (an MLP round is 20 steps, 0.15 to 0.4 s: rounds of 5 steps, 0.04 to 0.1 s, made
// the medians swing with this shared machine's hiccups, 47.7 to 71.9 steps/s at batch 512
// between runs); gpuStepConfigs those on another backend (a GPU), with larger batches and rounds.
// The U-Nets' rounds of ours alone last about a second; their rounds against the stock
// kernel are two steps, because the stock step takes seconds.
var (
	stepConfigs = []stepConfig{{"mnist_mlp", "bench/torch_mlp.py", 128, 20, 20, false}, {"mnist_mlp", "bench/torch_mlp.py", 512, 20, 20, false},
		{"mnist_unet", "bench/torch_unet.py", 32, 16, 2, false}, {"mnist_unet_ddpm", "bench/torch_unet_ddpm.py", 32, 2, 0, true}}
	gpuStepConfigs = []stepConfig{{"mnist_mlp", "bench/torch_mlp.py", 128, 50, 0, false}, {"mnist_mlp", "bench/torch_mlp.py", 512, 50, 0, false},
		{"mnist_unet", "bench/torch_unet.py", 32, 20, 0, false}, {"mnist_unet", "bench/torch_unet.py", 256, 20, 0, false}}
)

// CompareSteps times each reference step (only those of the configs named in only, when it
// is not empty) and PyTorch's replica of it, prints the table to w and returns the rows. On
// the go backend, ours runs with the fast and the stock kernel in alternating rounds (only
// the fast one when it is off) and PyTorch on the CPU; on another backend (xla:cuda), ours
// runs there and PyTorch on the GPU (--device cuda).
func CompareSteps(w io.Writer, rounds int, choice backend.Choice, only ...string) ([]StepRow, error) {
	b, err := backend.New(choice)
	if err != nil {
		return nil, err
	}
	defer b.Finalize()
	backendConfig := choice.Config
	onGo := choice.IsGo()
	configs, device := stepConfigs, "cpu"
	if !onGo {
		configs, device = gpuStepConfigs, "cuda"
	}
	var rows []StepRow
	var torchNotes []string
	for _, cfg := range configs {
		if len(only) > 0 && !slices.Contains(only, cfg.name) {
			continue
		}
		trials, err := spec.Parse(cfg.name+".toml", []byte(Named(cfg.name)), []string{fmt.Sprintf("train.batch=%d", cfg.batch)})
		if err != nil {
			return nil, err
		}
		trials[0].Backend = backendConfig
		job, err := engine.Prepare(trials[0])
		if err != nil {
			return nil, err
		}
		row := StepRow{Config: cfg.name, Batch: cfg.batch, Backend: backendConfig}
		if sized, ok := job.Net.(plugins.SizedNetwork); ok {
			row.Params, _ = sized.Size(job.Data.Dim(), job.Data.Dim()*job.Diffusion.OutputMultiplier())
		}
		var best torchResult
		var note string
		if onGo {
			// Ours in rounds after a warm-up round, as PyTorch's replica times itself, in a
			// block before each of the replica's runs: this shared machine's load changes
			// from minute to minute, and both sides then see the same minutes. The rounds
			// alternating with the stock kernel read the U-Net's step 20-30% below its Go
			// benchmark: each of those two-step rounds starts after seconds of the stock
			// kernel's work and garbage.
			if b.Fast() && !cfg.fastOnly {
				rs := rounds
				if strings.HasPrefix(cfg.name, "mnist_unet") {
					rs = min(rounds, 3) // a stock-kernel U-Net step takes seconds
				}
				res, err := CompareMatmulKernels(b, job, rs, cfg.stockSteps)
				if err != nil {
					return nil, err
				}
				row.StockPerSec = &res.StockStepsPerSec
			}
			stepper, err := engine.NewStepper(b, job)
			if err != nil {
				return nil, err
			}
			runs := min(rounds, torchRuns)
			var rates []float64
			var roundsErr error
			step := 0
			block := func(n int) {
				if roundsErr == nil {
					var r []float64
					r, roundsErr = timedRounds(stepper, &step, n, cfg.steps)
					rates = append(rates, r...)
				}
			}
			best, note = benchTorch(cfg.torchScript, cfg.batch, row.Params, device, runs, func() { block((rounds + runs - 1) / runs) })
			if len(rates) < rounds { // no PyTorch here, or its replica failed
				block(rounds - len(rates))
			}
			stepper.Close()
			if roundsErr != nil {
				return nil, roundsErr
			}
			row.StepsPerSec = Median(rates)
		} else {
			d, err := BareLoop(b, job, rounds*cfg.steps)
			if err != nil {
				return nil, err
			}
			row.StepsPerSec = float64(rounds*cfg.steps) / d.Seconds()
			best, note = benchTorch(cfg.torchScript, cfg.batch, row.Params, device, min(rounds, torchRuns), nil)
		}
		if best.stepsPerSec > 0 {
			ratio := row.StepsPerSec / best.stepsPerSec
			row.TorchPerSec, row.TorchThreads, row.RatioToTorch = &best.stepsPerSec, best.threads, &ratio
		}
		row.TorchNote = note
		if !slices.Contains(torchNotes, note) {
			torchNotes = append(torchNotes, note)
		}
		rows = append(rows, row)
	}
	if onGo {
		fmt.Fprintf(w, "\ntraining step: ours (medians of %d rounds or more, in blocks before each of PyTorch's runs; the stock kernel in alternating rounds with the fast one) and PyTorch's replica\n", rounds)
	} else {
		fmt.Fprintf(w, "\ntraining step on %s (%d rounds) and PyTorch's replica on %s\n", backendConfig, rounds, device)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "config\tbatch\tsteps/s\texamples/s\tstock steps/s\tpytorch best steps/s\tours/pytorch")
	for _, r := range rows {
		stock, pt, ratio := "-", "-", "-"
		if r.StockPerSec != nil {
			stock = fmt.Sprintf("%.2f", *r.StockPerSec)
		}
		if r.TorchPerSec != nil {
			pt = fmt.Sprintf("%.2f (%d thread%s)", *r.TorchPerSec, r.TorchThreads, plural(r.TorchThreads))
			ratio = fmt.Sprintf("%.2f", *r.RatioToTorch)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%s\t%s\t%s\n", r.Config, r.Batch, r.StepsPerSec, r.StepsPerSec*float64(r.Batch), stock, pt, ratio)
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	for _, note := range torchNotes {
		fmt.Fprintln(w, "pytorch:", note)
	}
	return rows, nil
}

// WriteStepsJSON prints the comparison rows as a JSON list.
func WriteStepsJSON[R StepRow | InceptionRow](w io.Writer, rows []R) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// torchRuns is the most runs of a PyTorch replica per compared step (each times 3 s at each
// thread setting).
const torchRuns = 3

type torchResult struct {
	threads     int
	stepsPerSec float64
}

// PythonEnv names the python that runs the PyTorch replicas; unset, the first of python3 on
// PATH and Debian's /usr/bin/python3 (where python3-torch installs) that can import torch.
const PythonEnv = "DDPM_BENCH_PYTHON"

// pythons lists the interpreters benchTorch tries, in order.
func pythons() []string {
	if py := strings.TrimSpace(os.Getenv(PythonEnv)); py != "" {
		return []string{py}
	}
	return []string{"python3", "/usr/bin/python3"}
}

// benchTorch runs a PyTorch replica script (bench/torch_*.py) at one batch size, runs
// times, with the first python that can import torch (pythons: $DDPM_BENCH_PYTHON, or the
// one on PATH, or Debian's /usr/bin/python3) on the given device ("cpu", or "cuda", where
// torch must see a GPU), calling before (when not nil) ahead of each run. It returns the
// thread setting with the best median over the runs and a note on what ran. A replica whose
// parameter count differs from params (when known) is an error in the note. Several runs,
// because one 3-second window of this shared machine varied from 42.7 to 58.6 steps/s
// between three runs of the MLP at batch 512; before lets the caller time its own step in
// the same minutes, between them. before is not called when no python here has torch.
func benchTorch(script string, batch int, params int64, device string, runs int, before func()) (torchResult, string) {
	var best torchResult
	for _, py := range pythons() {
		probe := "import torch"
		if device == "cuda" {
			probe = "import torch; assert torch.cuda.is_available()"
		}
		if err := exec.Command(py, "-c", probe).Run(); err != nil {
			continue
		}
		args := []string{script}
		if params > 0 && strings.Contains(script, "unet") {
			args = append(args, "--params", strconv.FormatInt(params, 10))
		}
		if device != "cpu" {
			args = append(args, "--device", device)
		}
		byThreads := map[int][]float64{}
		var notes []string
		for range max(1, runs) {
			if before != nil {
				before()
			}
			out, err := exec.Command(py, append(args, strconv.Itoa(batch))...).CombinedOutput()
			if err != nil {
				return torchResult{}, fmt.Sprintf("%s failed: %v: %s", script, err, strings.TrimSpace(string(out)))
			}
			for _, line := range strings.Split(string(out), "\n") {
				var b, n int
				var s float64
				if _, err := fmt.Sscanf(line, "batch %d threads %d: %g steps/s", &b, &n, &s); err == nil {
					byThreads[n] = append(byThreads[n], s)
				} else if line != "" && !slices.Contains(notes, line) {
					notes = append(notes, line)
				}
			}
		}
		for n, rates := range byThreads {
			if m := Median(rates); m > best.stepsPerSec || m == best.stepsPerSec && n < best.threads {
				best = torchResult{threads: n, stepsPerSec: m}
			}
		}
		if runs > 1 {
			notes = append(notes, fmt.Sprintf("medians of %d runs", runs))
		}
		return best, fmt.Sprintf("%s (%s)", script, strings.Join(notes, "; "))
	}
	tried := strings.Join(pythons(), ", ")
	if device != "cpu" {
		return best, fmt.Sprintf("not available on %s (no python here (%s) has a torch that sees a GPU); skipped", device, tried)
	}
	return best, fmt.Sprintf("not available (no python here (%s) can import torch; Debian: apt-get install python3-torch libopenblas0, or set $%s); skipped", tried, PythonEnv)
}
