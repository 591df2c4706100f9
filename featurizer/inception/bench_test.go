package inception

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/backend"
)

// BenchmarkForward times one forward pass to pool3 and the logits on random 299x299 inputs
// with testdata/weights.pth (every shape of the real network) on the go backend, at a batch
// of $DDPM_BENCH_BATCH images (4 by default); for profiling (-cpuprofile, -memprofile).
// runner bench --config inception is the comparison with PyTorch.
func BenchmarkForward(b *testing.B) {
	batch := 4
	if s := os.Getenv("DDPM_BENCH_BATCH"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("DDPM_BENCH_BATCH=%q: want a positive integer", s)
		}
		batch = n
	}
	w, err := Load("testdata/weights.pth")
	if err != nil {
		b.Fatal(err)
	}
	bk, err := backend.New(backend.Choice{Config: "go"})
	if err != nil {
		b.Fatal(err)
	}
	defer bk.Finalize()
	net := New(bk.GoMLX(), w)
	defer net.Finalize()
	rng := rand.New(rand.NewPCG(4, 299))
	x := make([]float32, batch*Side*Side*3)
	for i := range x {
		x[i] = float32(rng.Float64()*2 - 1)
	}
	if _, err := net.Forward(x, batch, Pool3|LogitsOut); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := net.Forward(x, batch, Pool3|LogitsOut); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
}
