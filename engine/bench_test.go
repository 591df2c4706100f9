package engine

import (
	"fmt"
	"os"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"

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
// that the benchmark finalizes when done.
func benchJob(b *testing.B, text string, sets ...string) (*Job, backends.Backend) {
	b.Helper()
	trials, err := spec.Parse("bench.toml", []byte(text), sets)
	if err != nil {
		b.Fatal(err)
	}
	j, err := Prepare(trials[0])
	if err != nil {
		b.Fatal(err)
	}
	backend, err := gobackend.New(benchBackendConfig)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(backend.Finalize)
	return j, backend
}

// benchTrainStep times training steps of a config; trainSpec is the trainer spec of the
// steps (nil: the plain step, logStep: a step that logs MSE and L_t).
func benchTrainStep(b *testing.B, text string, stockGradient bool, trainSpec any) {
	if stockGradient {
		ours := graph.VJPRegistration[graph.NodeTypeDotGeneral]
		graph.VJPRegistration[graph.NodeTypeDotGeneral] = stockDotGeneralVJP
		defer func() { graph.VJPRegistration[graph.NodeTypeDotGeneral] = ours }()
	}
	j, backend := benchJob(b, text)
	trainer, err := j.newTrainer(backend, gctx.New())
	if err != nil {
		b.Fatal(err)
	}
	tr := j.Trial.Train()
	bb := newBatchBuffers(tr.Int("batch"), j.Data.Dim())
	// The first step compiles the graph; it is not part of the measurement.
	if _, err := trainer.TrainStep(trainSpec, j.batchInputs(0, bb), nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := trainer.TrainStep(trainSpec, j.batchInputs(i+1, bb), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
	b.ReportMetric(float64(b.N*tr.Int("batch"))/b.Elapsed().Seconds(), "examples/s")
}

func BenchmarkTrainStepMNISTMLP(b *testing.B) {
	benchTrainStep(b, BenchConfigNamed("mnist_mlp"), false, nil)
}
func BenchmarkTrainStepMNISTMLPStock(b *testing.B) {
	benchTrainStep(b, BenchConfigNamed("mnist_mlp"), true, nil)
}

// BenchmarkTrainStepMNISTMLPLogged times the graph of the steps whose MSE and L_t are
// logged (every log_every steps), for comparison with the plain step above.
func BenchmarkTrainStepMNISTMLPLogged(b *testing.B) {
	benchTrainStep(b, BenchConfigNamed("mnist_mlp"), false, logStep)
}

func BenchmarkTrainStep2DMLP(b *testing.B) { benchTrainStep(b, BenchConfigNamed("2d_mlp"), false, nil) }
func BenchmarkTrainStep2DMLPStock(b *testing.B) {
	benchTrainStep(b, BenchConfigNamed("2d_mlp"), true, nil)
}

func BenchmarkTrainStepMNISTUNet(b *testing.B) {
	benchTrainStep(b, BenchConfigNamed("mnist_unet"), false, nil)
}

// BenchmarkMatmulKernels alternates the fast and the stock DotGeneral kernel on the
// reference MNIST MLP step (batch 128 and 512) in one process and reports both medians and
// their ratio; b.N is the number of rounds of 5 steps each.
func BenchmarkMatmulKernels(b *testing.B) {
	for _, batch := range []int{128, 512} {
		b.Run(fmt.Sprintf("mnist_mlp/batch=%d", batch), func(b *testing.B) {
			j, backend := benchJob(b, BenchConfigNamed("mnist_mlp"), fmt.Sprintf("train.batch=%d", batch))
			res, err := CompareMatmulKernels(backend, j, b.N, 5)
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
