package bench

import (
	"fmt"
	"os"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/engine"

	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// benchBackendConfig is the simplego configuration the benchmarks use (BENCH_GO_CONFIG
// overrides it, to compare settings).
var benchBackendConfig = func() string {
	if v, ok := os.LookupEnv("BENCH_GO_CONFIG"); ok {
		return v
	}
	return ""
}()

// benchJob prepares the job of a bench config (with --set style overrides) and a go backend
// (on the environment's kernel) that the benchmark finalizes when done.
func benchJob(b *testing.B, text string, sets ...string) (*engine.Job, *backend.Backend) {
	b.Helper()
	trials, err := spec.Parse("bench.toml", []byte(text), sets)
	if err != nil {
		b.Fatal(err)
	}
	j, err := engine.Prepare(trials[0])
	if err != nil {
		b.Fatal(err)
	}
	config := "go"
	if benchBackendConfig != "" {
		config += ":" + benchBackendConfig
	}
	gb, err := backend.New(backend.Choice{Config: config})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(gb.Finalize)
	return j, gb
}

// benchTrainStep times training steps of a config; logged selects the graph of the steps
// that also compute the logged MSE and L_t.
func benchTrainStep(b *testing.B, text string, stockGradient, logged bool, sets ...string) {
	if stockGradient {
		defer backend.UseStockDotGradient()()
	}
	j, gb := benchJob(b, text, sets...)
	stepper, err := engine.NewStepper(gb, j)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(stepper.Close) // before the backend's Finalize, registered earlier
	tr := j.Trial.Settings.Train
	// The first step compiles the graph; it is not part of the measurement.
	if err := stepper.Step(0, logged); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := stepper.Step(i+1, logged); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
	b.ReportMetric(float64(b.N*tr.Batch)/b.Elapsed().Seconds(), "examples/s")
}

func BenchmarkTrainStepMNISTMLP(b *testing.B) {
	benchTrainStep(b, Named("mnist_mlp"), false, false)
}

// BenchmarkTrainStepMNISTMLP512 is the MLP step at batch 512, the second batch size that
// `runner bench` compares with PyTorch.
func BenchmarkTrainStepMNISTMLP512(b *testing.B) {
	benchTrainStep(b, Named("mnist_mlp"), false, false, "train.batch=512")
}
func BenchmarkTrainStepMNISTMLPStock(b *testing.B) {
	benchTrainStep(b, Named("mnist_mlp"), true, false)
}

// BenchmarkTrainStepMNISTMLPLogged times the graph of the steps whose MSE and L_t are
// logged (every log_every steps), for comparison with the plain step above.
func BenchmarkTrainStepMNISTMLPLogged(b *testing.B) {
	benchTrainStep(b, Named("mnist_mlp"), false, true)
}

func BenchmarkTrainStep2DMLP(b *testing.B) { benchTrainStep(b, Named("2d_mlp"), false, false) }
func BenchmarkTrainStep2DMLPStock(b *testing.B) {
	benchTrainStep(b, Named("2d_mlp"), true, false)
}

func BenchmarkTrainStepMNISTUNet(b *testing.B) {
	benchTrainStep(b, Named("mnist_unet"), false, false)
}

// BenchmarkTrainStepMNISTUNetDDPM is the step of the papers' U-Net blocks at CPU size
// (GroupNorm, scale-shift, dropout, attention at 7x7).
func BenchmarkTrainStepMNISTUNetDDPM(b *testing.B) {
	benchTrainStep(b, Named("mnist_unet_ddpm"), false, false)
}

// BenchmarkMatmulKernels alternates the fast and the stock DotGeneral kernel on the
// reference MNIST MLP step (batch 128 and 512) in one process and reports both medians and
// their ratio; b.N is the number of rounds of 5 steps each.
func BenchmarkMatmulKernels(b *testing.B) {
	for _, batch := range []int{128, 512} {
		b.Run(fmt.Sprintf("mnist_mlp/batch=%d", batch), func(b *testing.B) {
			j, gb := benchJob(b, Named("mnist_mlp"), fmt.Sprintf("train.batch=%d", batch))
			res, err := CompareMatmulKernels(gb, j, b.N, 5)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.FastStepsPerSec, "fast-steps/s")
			b.ReportMetric(res.FastStepsPerSec*float64(batch), "fast-examples/s")
			b.ReportMetric(res.StockStepsPerSec, "stock-steps/s")
			b.ReportMetric(res.Speedup(), "speedup")
		})
	}
}

// BenchmarkTrainStepMNIST14UNet is the U-Net step on 14x14 MNIST at batch 32, the main job's
// network and batch.
func BenchmarkTrainStepMNIST14UNet(b *testing.B) {
	benchTrainStep(b, Named("mnist_unet"), false, false, "data.size=14")
}

// BenchmarkTrainStepMNISTMLPNoClipNoEMA is the MLP step without gradient clipping and without
// the weights' EMA: the difference from BenchmarkTrainStepMNISTMLP is what those two cost.
func BenchmarkTrainStepMNISTMLPNoClipNoEMA(b *testing.B) {
	benchTrainStep(b, Named("mnist_mlp"), false, false, "train.ema=0", "train.grad_clip=0")
}
