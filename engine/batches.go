package engine

import (
	"fmt"
	"math/rand/v2"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// noiseStream separates the timestep-and-noise stream of a step from the dataset's own
// stream for the same (seed, step).
const noiseStream = 0x9e3779b97f4a7c15

// randomStream separates the stream of the random state that a network drawing random
// numbers in training (plugins.RandomNetwork: dropout) receives from the step's other
// streams; none of theirs change when a network draws.
const randomStream = 0x2545f4914f6cdd1d

// networkRandomState is the random state of step's training graph for a network that draws
// random numbers (see plugins.RandomNetwork): a pure function of (seed, step), so a rerun
// or a resumed run draws the same dropout masks on the same backend. (Backends turn a state
// into numbers with their own generators.)
func networkRandomState(seed, step int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(uint64(seed)^randomStream, uint64(step)))
	state := make([]uint64, graph.RNGStateShape.Size())
	for i := range state {
		state[i] = rng.Uint64()
	}
	return tensors.FromFlatDataAndDimensions(state, graph.RNGStateShape.Dimensions...)
}

// flipStream separates the horizontal flips of a step's images (data.flip) from the step's
// other draws: a stream of their own, so that turning flips on changes no other number of the
// step, and turning them off leaves every number as it was before flips existed.
const flipStream = 0x5851f42d4c957f2d

// batchRNG is the random stream of one training step's timesteps and noise. Like the data,
// it is a pure function of (seed, step), so a resumed run sees exactly what it would have.
func batchRNG(seed, step int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed)^noiseStream, uint64(step)))
}

// The inputs of a training step, in the order batchInputs returns them.
const (
	x0Input          = iota // x_0 [batch, dim]
	timestepsInput          // t [batch], int32
	noiseInput              // eps [batch, dim]
	weightsInput            // importance weights [batch]
	decoderRowsInput        // rows with t = 0 (see diffusion.DecoderRows)
	labelsInput             // class labels [batch], int32 (class-conditional jobs only)
)

// randomInput is the index of the network's random state (networks that draw random
// numbers only), after the labels when there are labels.
func (j *Job) randomInput() int {
	if j.ClassCond {
		return labelsInput + 1
	}
	return labelsInput
}

// needsRandom reports whether the job's network draws random numbers in training.
func (j *Job) needsRandom() bool {
	rn, ok := j.Net.(plugins.RandomNetwork)
	return ok && rn.NeedsRandom()
}

// batchBuffers are the host buffers of one training batch, reused across steps.
type batchBuffers struct {
	batch, dim int
	x0, noise  []float32
	ts, rows   []int32
	ws         []float32
	labels     []int32
}

func newBatchBuffers(batch, dim int) *batchBuffers {
	return &batchBuffers{batch: batch, dim: dim, x0: make([]float32, batch*dim), noise: make([]float32, batch*dim),
		ts: make([]int32, batch), rows: make([]int32, batch), ws: make([]float32, batch), labels: make([]int32, batch)}
}

// batchInputs draws the inputs of a training step (x_0, t, eps, importance weights) from the
// step's own random stream, and lists the rows with t = 0 for the decoder term.
func (j *Job) batchInputs(step int, bb *batchBuffers) []*tensors.Tensor {
	if j.ClassCond {
		j.Data.(plugins.LabeledData).TrainLabeled(uint64(j.Trial.Seed), step, bb.batch, bb.x0, bb.labels)
	} else {
		j.Data.Train(uint64(j.Trial.Seed), step, bb.batch, bb.x0)
	}
	if j.Trial.Settings.Data.Flip {
		h, w, c := j.Data.(plugins.ImageData).ImageShape() // checkFlip has made sure
		flipBatch(j.Trial.Seed, step, bb.x0, bb.batch, h, w, c)
	}
	rng := batchRNG(j.Trial.Seed, step)
	j.Timesteps.Sample(rng, bb.ts, bb.ws)
	for i := range bb.noise {
		bb.noise[i] = float32(rng.NormFloat64())
	}
	if s := j.Trial.Settings.Train.OffsetNoise; s > 0 {
		j.addOffsetNoise(rng, bb, s)
	}
	inputs := []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(bb.x0, bb.batch, bb.dim),
		tensors.FromFlatDataAndDimensions(bb.ts, bb.batch),
		tensors.FromFlatDataAndDimensions(bb.noise, bb.batch, bb.dim),
		tensors.FromFlatDataAndDimensions(bb.ws, bb.batch),
		tensors.FromValue(diffusion.DecoderRows(bb.ts, bb.rows)),
	}
	if j.ClassCond { // the label draws come last in the step's stream
		dropLabels(bb.labels, j.Classes, j.Trial.Settings.Train.LabelDropout, rng.Float64)
		inputs = append(inputs, tensors.FromFlatDataAndDimensions(bb.labels, bb.batch))
	}
	if j.needsRandom() {
		inputs = append(inputs, networkRandomState(j.Trial.Seed, step))
	}
	return inputs
}

// addOffsetNoise adds offset noise (Guttenberg 2023): s times one N(0, 1) draw per example
// and channel, the same at every position of the channel, so that the model also learns to
// change an image's mean brightness. The draws come after the step's noise in its stream, so
// offset_noise = 0 leaves every other number as it was. Data that are not images have one
// channel per dimension (the offset then only widens the noise).
func (j *Job) addOffsetNoise(rng *rand.Rand, bb *batchBuffers, s float64) {
	channels := bb.dim
	if img, ok := j.Data.(plugins.ImageData); ok {
		_, _, channels = img.ImageShape()
	}
	offset := make([]float32, channels)
	for b := range bb.batch {
		for c := range offset {
			offset[c] = float32(s * rng.NormFloat64())
		}
		row := bb.noise[b*bb.dim : (b+1)*bb.dim]
		for i := range row {
			row[i] += offset[i%channels] // values are stored position-major, channel last (HWC)
		}
	}
}

// checkFlip refuses data.flip for data that are not images: a mirror needs rows and columns.
func (j *Job) checkFlip() error {
	if !j.Trial.Settings.Data.Flip {
		return nil
	}
	if _, ok := j.Data.(plugins.ImageData); !ok {
		return fmt.Errorf("[data] flip = true mirrors images left to right; [data] %s is not images (remove flip, or use an image dataset: mnist, fashion-mnist, cifar10, images)",
			j.Trial.Section("data").Name)
	}
	return nil
}

// flipBatch mirrors each of the n images in x (h*w*c values each, HWC) left to right with
// probability 1/2, one draw per image from the step's flip stream: which images of a step
// are flipped is a pure function of (seed, step), so a resumed run flips the same ones. It
// is applied where the engine assembles a batch, so every image dataset has it.
func flipBatch(seed, step int, x []float32, n, h, w, c int) {
	rng := rand.New(rand.NewPCG(uint64(seed)^flipStream, uint64(step)))
	d := h * w * c
	for i := range n {
		if rng.Uint64()&1 == 1 {
			flipImage(x[i*d:(i+1)*d], h, w, c)
		}
	}
}

// flipImage mirrors one HWC image left to right in place.
func flipImage(img []float32, h, w, c int) {
	for y := range h {
		row := img[y*w*c : (y+1)*w*c]
		for a, b := 0, w-1; a < b; a, b = a+1, b-1 {
			for k := range c {
				row[a*c+k], row[b*c+k] = row[b*c+k], row[a*c+k]
			}
		}
	}
}
