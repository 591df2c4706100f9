package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/featurizer/inception"
)

// InceptionWeights is the weights file the inception row times, relative to the repository
// root: the tests' seeded random weights, which have every shape of pytorch-fid's network,
// so the time is the real network's.
const InceptionWeights = "featurizer/inception/testdata/weights.pth"

// InceptionBatch is the batch of the inception row (pytorch-fid's default).
const InceptionBatch = 50

// InceptionRow is the FID Inception's forward pass: ours and PyTorch's torchvision replica.
type InceptionRow struct {
	Batch         int       `json:"batch"`
	Backend       string    `json:"backend"`
	ImagesPerSec  float64   `json:"images_per_sec"`
	TorchPerSec   *float64  `json:"torch_images_per_sec"`
	TorchThreads  int       `json:"torch_threads,omitempty"`
	RatioToTorch  *float64  `json:"ratio_to_torch"`
	TorchNote     string    `json:"torch_note,omitempty"`
	SecondsPerRun []float64 `json:"seconds_per_run"`
}

// CompareInception times the FID Inception's forward pass to pool3 and the logits at batch
// InceptionBatch on 299x299 inputs (after one untimed pass that compiles the graph), rounds
// times, and bench/torch_inception.py's replica at 1 and 2 threads; it prints the row.
func CompareInception(w io.Writer, rounds int, choice backend.Choice) (InceptionRow, error) {
	row := InceptionRow{Batch: InceptionBatch, Backend: choice.Config}
	weights, err := inception.Load(InceptionWeights)
	if err != nil {
		return row, err
	}
	b, err := backend.New(choice)
	if err != nil {
		return row, err
	}
	defer b.Finalize()
	net := inception.New(b.GoMLX(), weights)
	defer net.Finalize()
	rng := rand.New(rand.NewPCG(299, 50))
	x := make([]float32, InceptionBatch*inception.Side*inception.Side*3)
	for i := range x {
		x[i] = float32(rng.Float64()*2 - 1)
	}
	want := inception.Pool3 | inception.LogitsOut
	if _, err := net.Forward(x, InceptionBatch, want); err != nil {
		return row, err
	}
	for range max(1, rounds) {
		start := time.Now()
		if _, err := net.Forward(x, InceptionBatch, want); err != nil {
			return row, err
		}
		row.SecondsPerRun = append(row.SecondsPerRun, time.Since(start).Seconds())
	}
	row.ImagesPerSec = InceptionBatch / Median(row.SecondsPerRun)
	device := "cpu"
	if !choice.IsGo() {
		device = "cuda"
	}
	best, note := benchTorch("bench/torch_inception.py", InceptionBatch, 0, device, min(rounds, torchRuns), nil)
	if best.stepsPerSec > 0 {
		perSec := best.stepsPerSec * InceptionBatch
		ratio := row.ImagesPerSec / perSec
		row.TorchPerSec, row.TorchThreads, row.RatioToTorch = &perSec, best.threads, &ratio
	}
	row.TorchNote = note
	pt, ratio := "-", "-"
	if row.TorchPerSec != nil {
		pt = fmt.Sprintf("%.2f (%d thread%s)", *row.TorchPerSec, row.TorchThreads, plural(row.TorchThreads))
		ratio = fmt.Sprintf("%.2f", *row.RatioToTorch)
	}
	fmt.Fprintf(w, "\ninception (FID Inception forward to pool3 and logits, batch %d, 299x299, on %s; median of %d)\n",
		InceptionBatch, choice.Config, len(row.SecondsPerRun))
	fmt.Fprintf(w, "images/s %.2f   pytorch best images/s %s   ours/pytorch %s\npytorch: %s\n", row.ImagesPerSec, pt, ratio, note)
	return row, nil
}
