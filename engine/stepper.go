package engine

import (
	"github.com/gomlx/gomlx/pkg/ml/train"

	"github.com/ddpm-runner/ddpm-runner/backend"
)

// Stepper runs a job's training steps outside any recorded run, with the same graph, batches
// and optimizer as Run: what the benchmarks time.
type Stepper struct {
	job     *Job
	trainer *train.Trainer
	batches *batchSource
}

// NewStepper builds a job's trainer on a fresh context, with the convolutions b asks for;
// the graph compiles on the first Step.
func NewStepper(b *backend.Backend, j *Job) (*Stepper, error) {
	trainer, err := j.newTrainer(b.GoMLX(), newContext(b))
	if err != nil {
		return nil, err
	}
	return &Stepper{job: j, trainer: trainer, batches: newBatchSource(b.GoMLX(), j)}, nil
}

// Step runs the training step of the given number (its data and noise are those of that
// step of a run); logged selects the graph of the steps that also compute the logged MSE and
// L_t.
func (s *Stepper) Step(step int, logged bool) error {
	var spec any
	if logged {
		spec = logStep
	}
	inputs, _, err := s.batches.next(step)
	if err != nil {
		return err
	}
	_, err = s.trainer.TrainStep(spec, inputs, nil)
	return err
}

// Close waits for the batch that is being drawn ahead, if any; call it before the backend is
// finalized.
func (s *Stepper) Close() { s.batches.close() }
